package portal

import (
	"net/http"

	"github.com/gofiber/fiber/v2"

	"github.com/meterflow/meterflow/gateway/internal/problem"
	"github.com/meterflow/meterflow/gateway/internal/web"
	"github.com/meterflow/meterflow/platform/rpcerr"
	identityv1 "github.com/meterflow/meterflow/proto/gen/meterflow/identity/v1"
)

// accountView is the account page: who the user is, and the password form.
type accountView struct {
	User     *identityv1.User
	Password *Form
}

func (p *Portal) account(x *fiber.Ctx, s *web.Session) error {
	return p.renderAccount(x, s, http.StatusOK, p.newForm())
}

func (p *Portal) renderAccount(x *fiber.Ctx, s *web.Session, code int, f *Form) error {
	ctx, cancel := p.call(x, s)
	defer cancel()
	u, err := p.user(ctx)
	if err != nil {
		return err
	}
	return p.render(x, s, code, "account", "Account", "account", accountView{User: u, Password: f})
}

// changePassword changes the password: identity checks the current one
// (throttled like a login) and ends every other login of the account;
// this session's stays.
func (p *Portal) changePassword(x *fiber.Ctx, s *web.Session) error {
	f := p.newForm()
	current, next := x.FormValue("current"), x.FormValue("new")
	switch {
	case current == "":
		f.fail("current", "Enter your current password.")
	case len(next) < 8 || len(next) > 128:
		f.fail("new", "Choose a password of 8 to 128 characters.")
	case next != x.FormValue("confirm"):
		f.fail("confirm", "The two passwords differ. Type the same password twice.")
	}
	if f.failed() {
		return p.renderAccount(x, s, http.StatusBadRequest, f)
	}
	ctx, cancel := p.call(x, s)
	defer cancel()
	_, err := p.d.Identity.ChangePassword(ctx, &identityv1.ChangePasswordRequest{CurrentPassword: current, NewPassword: next, ClientIp: p.site.ClientIP(x)})
	if err != nil {
		pr := problem.FromError(err)
		switch {
		case pr.Code == rpcerr.InvalidCredentials:
			// Not the session's end: the page answers 400, not 401.
			f.fail("current", "This is not your current password.")
			return p.renderAccount(x, s, http.StatusBadRequest, f)
		case pr.Status == http.StatusTooManyRequests:
			f.fail("", pr.Detail)
		default:
			if err := f.refused(err, map[string]string{"new_password": "new", "current_password": "current"}); err != nil {
				return err
			}
		}
		return p.renderAccount(x, s, pr.Status, f)
	}
	// identity ended the other logins' refresh tokens; their portal
	// sessions end now too, not when their access tokens expire.
	if err := p.site.EndOtherSessions(ctx, s); err != nil {
		p.log.ErrorContext(ctx, "portal: could not end the other sessions after a password change", "err", err)
	}
	return p.site.FlashRedirect(x, s, "Your password is changed. Every other login of your account has ended.", p.site.Base()+"/account")
}

// logoutAll ends every login of the account at identity, and every portal
// session of the user at their next page (EndUserSessions). API clients
// that logged in with the password keep their access token until it
// expires (15 minutes by default), as after POST /v1/auth/logout-all.
func (p *Portal) logoutAll(x *fiber.Ctx, s *web.Session) error {
	ctx, cancel := p.call(x, s)
	defer cancel()
	if _, err := p.d.Identity.LogoutAll(ctx, &identityv1.LogoutAllRequest{}); err != nil {
		return err
	}
	if err := p.site.EndUserSessions(ctx, s.UserID); err != nil {
		// The refresh tokens are revoked: the sessions end at their next refresh.
		p.log.ErrorContext(ctx, "portal: could not end the other sessions", "err", err)
	}
	p.site.EndSession(x, s)
	return x.Redirect(p.site.Base()+"/login?out=1", fiber.StatusSeeOther)
}
