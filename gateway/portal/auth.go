package portal

import (
	"context"
	"net/http"
	"strings"

	"github.com/gofiber/fiber/v2"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/meterflow/meterflow/gateway/internal/clientip"
	"github.com/meterflow/meterflow/gateway/internal/problem"
	"github.com/meterflow/meterflow/gateway/internal/ratelimit"
	"github.com/meterflow/meterflow/gateway/internal/web"
	"github.com/meterflow/meterflow/platform/rpcerr"
	identityv1 "github.com/meterflow/meterflow/proto/gen/meterflow/identity/v1"
)

// Sign-up and the password-reset request are public forms: they carry the
// double-submit token of the public forms and spend the client's budget
// of the API's /v1/auth/* (RATE_LIMIT_AUTH_PER_MINUTE), so the portal is
// no way around it. Logging in is web's (the shared login page).

// publicForm is the data of the sign-up and reset-request pages.
type publicForm struct {
	*Form
	CSRF string
	Done string
}

const errFormAgain = "The form expired. Please send it again."

func (p *Portal) signupForm(x *fiber.Ctx) error {
	if p.site.SignedIn(x) {
		return x.Redirect(p.site.Base()+"/", fiber.StatusSeeOther)
	}
	return p.render(x, nil, http.StatusOK, "signup", "Create your account", "", publicForm{Form: newForm(), CSRF: p.site.FormToken(x)})
}

func (p *Portal) signup(x *fiber.Ctx) error {
	v := publicForm{Form: newForm(), CSRF: p.site.FormToken(x)}
	email, password := strings.TrimSpace(x.FormValue("email")), x.FormValue("password")
	v.Values["email"] = email
	if code, ok := p.publicChecks(x, v.Form); !ok {
		return p.render(x, nil, code, "signup", "Create your account", "", v)
	}
	switch {
	case email == "":
		v.fail("email", "Enter your email address.")
	case !strings.Contains(email, "@"):
		v.fail("email", "Enter an email address like name@example.com.")
	}
	if len(password) < 8 || len(password) > 128 {
		v.fail("password", "Choose a password of 8 to 128 characters.")
	} else if password != x.FormValue("confirm") {
		v.fail("confirm", "The two passwords differ. Type the same password twice.")
	}
	if v.failed() {
		return p.render(x, nil, http.StatusBadRequest, "signup", "Create your account", "", v)
	}
	ctx, cancel := p.publicCall(x)
	defer cancel()
	resp, err := p.d.Identity.SignUp(ctx, &identityv1.SignUpRequest{Email: email, Password: password, RefreshTtl: durationpb.New(p.site.SessionTTL())})
	if err != nil {
		if rpcerr.Reason(err) == rpcerr.EmailTaken {
			v.fail("email", "An account with this email exists. Sign in, or reset its password.")
		} else if err := v.refused(err, map[string]string{"email": "email", "password": "password"}); err != nil {
			p.log.ErrorContext(ctx, "portal: sign-up failed", "err", err)
			v.fail("", web.ErrUnavailable)
			return p.render(x, nil, problem.FromError(err).Status, "signup", "Create your account", "", v)
		}
		return p.render(x, nil, problem.FromError(err).Status, "signup", "Create your account", "", v)
	}
	if err := p.site.StartSession(x, resp.GetUser(), resp.GetTokens()); err != nil {
		// The account exists; only the session failed. Signing in works.
		return x.Redirect(p.site.Base()+"/login", fiber.StatusSeeOther)
	}
	return x.Redirect(p.site.Base()+"/?welcome=1", fiber.StatusSeeOther)
}

// publicChecks refuses a public form without its token, and spends the
// client's auth budget; the status is the page's.
func (p *Portal) publicChecks(x *fiber.Ctx, f *Form) (int, bool) {
	if !p.site.FormTokenOK(x) {
		f.fail("", errFormAgain)
		return http.StatusForbidden, false
	}
	if err := p.limit(x.UserContext(), ratelimit.ClassAuth, clientip.LimitKeyOf(p.site.ClientIP(x)), p.o.AuthPerMinute); err != nil {
		f.fail("", problem.FromError(err).Detail)
		return http.StatusTooManyRequests, false
	}
	return 0, true
}

// resetRequested is the answer to a reset request, the same whoever owns
// the address (shared/spec/api.md).
const resetRequested = "If an active account has this email, a link to choose a new password is on its way. It works for 30 minutes."

func (p *Portal) forgotForm(x *fiber.Ctx) error {
	return p.render(x, nil, http.StatusOK, "forgot", "Reset your password", "", publicForm{Form: newForm(), CSRF: p.site.FormToken(x)})
}

func (p *Portal) forgot(x *fiber.Ctx) error {
	v := publicForm{Form: newForm(), CSRF: p.site.FormToken(x)}
	email := strings.TrimSpace(x.FormValue("email"))
	v.Values["email"] = email
	if code, ok := p.publicChecks(x, v.Form); !ok {
		return p.render(x, nil, code, "forgot", "Reset your password", "", v)
	}
	if email == "" {
		v.fail("email", "Enter the email address of your account.")
		return p.render(x, nil, http.StatusBadRequest, "forgot", "Reset your password", "", v)
	}
	if err := p.limitPer(x.UserContext(), ratelimit.ClassEmails, ratelimit.EmailKey(email), p.o.EmailsPerHour, ratelimit.EmailPeriod); err != nil {
		v.fail("", problem.FromError(err).Detail)
		return p.render(x, nil, http.StatusTooManyRequests, "forgot", "Reset your password", "", v)
	}
	ctx, cancel := p.publicCall(x)
	defer cancel()
	if _, err := p.d.Identity.RequestPasswordReset(ctx, &identityv1.RequestPasswordResetRequest{Email: email}); err != nil {
		if err := v.refused(err, map[string]string{"email": "email"}); err != nil {
			p.log.ErrorContext(ctx, "portal: password reset request failed", "err", err)
			v.fail("", web.ErrUnavailable)
		}
		return p.render(x, nil, problem.FromError(err).Status, "forgot", "Reset your password", "", v)
	}
	v.Done = resetRequested
	return p.render(x, nil, http.StatusOK, "forgot", "Reset your password", "", v)
}

// resendVerification sends a new verification link (older ones stop
// working), within the user's email budget.
func (p *Portal) resendVerification(x *fiber.Ctx, s *web.Session) error {
	back := p.site.Base() + "/"
	if x.FormValue("back") == "account" {
		back = p.site.Base() + "/account"
	}
	if err := p.limitPer(x.UserContext(), ratelimit.ClassEmails, ratelimit.UserKey(s.UserID), p.o.EmailsPerHour, ratelimit.EmailPeriod); err != nil {
		return p.site.FlashRedirect(x, s, problem.FromError(err).Detail, back)
	}
	ctx, cancel := p.call(x, s)
	defer cancel()
	if _, err := p.d.Identity.ResendVerification(ctx, &identityv1.ResendVerificationRequest{}); err != nil {
		if rpcerr.Reason(err) == rpcerr.AlreadyVerified {
			return p.site.FlashRedirect(x, s, "Your email address is already verified.", back)
		}
		return err
	}
	return p.site.FlashRedirect(x, s, "A new verification link is on its way to "+s.Email+". It works for 48 hours; older links no longer do.", back)
}

// user reads the signed-in user (the verified flag may be newer than the
// access token's).
func (p *Portal) user(ctx context.Context) (*identityv1.User, error) {
	r, err := p.d.Identity.GetUser(ctx, &identityv1.GetUserRequest{})
	return r.GetUser(), err
}

// errVerifyFirst is the refusal of money and runs before the email is
// verified (REQUIRE_VERIFIED_EMAIL), as the API's 403 email_not_verified.
const errVerifyFirst = "Verify your email address first: open the link we emailed you, or ask for a new one on your dashboard."

// allowed checks what the API checks before money moves or a run starts:
// a verified email (REQUIRE_VERIFIED_EMAIL) and the user's budget of
// class. A refusal is recorded on f and its status returned (0: allowed).
func (p *Portal) allowed(ctx context.Context, s *web.Session, f *Form, class string, perMinute int) (int, error) {
	ok, err := p.verified(ctx)
	switch {
	case err != nil:
		return 0, err
	case !ok:
		f.fail("", errVerifyFirst)
		return http.StatusForbidden, nil
	}
	if err := p.limit(ctx, class, ratelimit.UserKey(s.UserID), perMinute); err != nil {
		f.fail("", problem.FromError(err).Detail)
		return http.StatusTooManyRequests, nil
	}
	return 0, nil
}

// verified reports whether the user may move money and start runs.
func (p *Portal) verified(ctx context.Context) (bool, error) {
	if !p.o.RequireVerifiedEmail {
		return true, nil
	}
	u, err := p.user(ctx)
	return u.GetEmailVerified(), err
}
