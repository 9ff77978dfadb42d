package portal

// The two pages the emails link to work for whoever holds the link,
// without a login (shared/spec/api.md, "Account lifecycle and email"):
// /app/verify-email?token=… and /app/reset-password?token=…. Their forms
// carry the double-submit token of the public forms (web.Server.FormToken).
//
// Opening a link only shows a form; the token is used when the form is
// posted, so mail scanners that fetch links do not use it up.

import (
	"context"
	"net/http"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"github.com/meterflow/meterflow/gateway/internal/problem"
	"github.com/meterflow/meterflow/platform/rpcerr"
	identityv1 "github.com/meterflow/meterflow/proto/gen/meterflow/identity/v1"
)

// linkView is the data of the two link pages.
type linkView struct {
	Token, CSRF, Error string
}

type doneView struct {
	Heading, Message string
}

const (
	errFormExpired = "The form expired. Open the link from the email again."
	errBadLink     = "This link is invalid, used or expired. Ask for a new one."
	maxTokenLen    = 512
)

func (p *Portal) verifyForm(x *fiber.Ctx) error {
	return p.site.Render(x, nil, http.StatusOK, "verify_email", "Verify your email", "", linkView{Token: token(x.Query("token")), CSRF: p.site.FormToken(x)})
}

func (p *Portal) verify(x *fiber.Ctx) error {
	v := linkView{Token: token(x.FormValue("token")), CSRF: p.site.FormToken(x)}
	switch {
	case !p.site.FormTokenOK(x):
		v.Error = errFormExpired
		return p.site.Render(x, nil, http.StatusForbidden, "verify_email", "Verify your email", "", v)
	case v.Token == "":
		v.Error = errBadLink
		return p.site.Render(x, nil, http.StatusBadRequest, "verify_email", "Verify your email", "", v)
	}
	ctx, cancel := p.publicCall(x)
	defer cancel()
	if _, err := p.d.Identity.VerifyEmail(ctx, &identityv1.VerifyEmailRequest{Token: v.Token}); err != nil {
		return p.fail(x, "verify_email", "Verify your email", v, err)
	}
	return p.site.Render(x, nil, http.StatusOK, "done", "Email verified", "", doneView{
		Heading: "Email verified", Message: "Thank you: your email address is verified.",
	})
}

func (p *Portal) resetForm(x *fiber.Ctx) error {
	return p.site.Render(x, nil, http.StatusOK, "reset_password", "Choose a new password", "", linkView{Token: token(x.Query("token")), CSRF: p.site.FormToken(x)})
}

func (p *Portal) reset(x *fiber.Ctx) error {
	v := linkView{Token: token(x.FormValue("token")), CSRF: p.site.FormToken(x)}
	password := x.FormValue("password")
	switch {
	case !p.site.FormTokenOK(x):
		v.Error = errFormExpired
		return p.site.Render(x, nil, http.StatusForbidden, "reset_password", "Choose a new password", "", v)
	case v.Token == "":
		v.Error = errBadLink
		return p.site.Render(x, nil, http.StatusBadRequest, "reset_password", "Choose a new password", "", v)
	case password != x.FormValue("confirm"):
		v.Error = "The two passwords differ. Type the same password twice."
		return p.site.Render(x, nil, http.StatusBadRequest, "reset_password", "Choose a new password", "", v)
	}
	ctx, cancel := p.publicCall(x)
	defer cancel()
	if _, err := p.d.Identity.ConfirmPasswordReset(ctx, &identityv1.ConfirmPasswordResetRequest{Token: v.Token, Password: password}); err != nil {
		return p.fail(x, "reset_password", "Choose a new password", v, err)
	}
	return p.site.Render(x, nil, http.StatusOK, "done", "Password changed", "", doneView{
		Heading: "Password changed", Message: "Your password is changed and every session of your account has ended. Sign in with the new password.",
	})
}

// fail shows the form again with the service's error: an unusable link
// (no form then), a password the rules refuse, or, for a failure on our
// side, a generic message (logged, without the token).
func (p *Portal) fail(x *fiber.Ctx, page, title string, v linkView, err error) error {
	pr := problem.FromError(err)
	switch {
	case pr.Code == rpcerr.InvalidToken:
		v.Token, v.Error = "", errBadLink
	case pr.Status < 500:
		v.Error = pr.Detail
		for _, e := range pr.Errors {
			v.Error = "The password " + e.Message + "."
		}
	default:
		p.log.ErrorContext(x.UserContext(), "account link page failed", "path", x.Path(), "err", err)
		v.Error = "Something went wrong on our side. Try again in a moment."
	}
	return p.site.Render(x, nil, pr.Status, page, title, "", v)
}

// publicCall is the context of one service call of a public page.
func (p *Portal) publicCall(x *fiber.Ctx) (context.Context, context.CancelFunc) {
	return context.WithTimeout(x.UserContext(), p.site.CallTimeout())
}

// token keeps a plausible token only: the links' tokens are short base64url
// strings; anything long or not UTF-8 is no token.
func token(s string) string {
	if len(s) > maxTokenLen || !utf8.ValidString(s) {
		return ""
	}
	return s
}
