// Package portal is the user portal at /app. Today it holds the two pages
// the emails link to, which work for whoever holds the link, without a
// login (shared/spec/api.md, "Account lifecycle and email"):
// /app/verify-email?token=… and /app/reset-password?token=…. They are
// server-rendered from the shared page parts of internal/web, need no
// JavaScript, and their forms carry a CSRF token (web.Server.FormToken).
//
// Opening a link only shows a form; the token is used when the form is
// posted, so mail scanners that fetch links do not use it up.
package portal

import (
	"context"
	"embed"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
	"github.com/redis/go-redis/v9"

	"github.com/meterflow/meterflow/gateway/internal/problem"
	"github.com/meterflow/meterflow/gateway/internal/web"
	"github.com/meterflow/meterflow/platform/callauth"
	"github.com/meterflow/meterflow/platform/rpcerr"
	identityv1 "github.com/meterflow/meterflow/proto/gen/meterflow/identity/v1"
)

// Cookie names of the portal: its (future) session, and the CSRF token of
// its public forms.
const (
	SessionCookie = "mf_app"
	FormCookie    = "mf_app_form"
)

//go:embed templates/*.html
var templateFS embed.FS

// Deps are what the portal's pages need (see web.Deps).
type Deps struct {
	Identity identityv1.IdentityServiceClient
	Users    callauth.AccessVerifier
	Redis    *redis.Client
	Log      *slog.Logger
}

// Portal serves the /app pages.
type Portal struct {
	site *web.Server
	d    Deps
	log  *slog.Logger
}

// New parses the pages; cfg is the web configuration the gateway's sites
// share (cookies, session key, call timeout).
func New(cfg web.Config, d Deps) (*Portal, error) {
	if d.Identity == nil {
		return nil, errors.New("portal: the identity client is required")
	}
	pages, err := fs.Sub(templateFS, "templates")
	if err != nil {
		return nil, err
	}
	log := d.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	srv, err := web.New(web.Site{
		ID: "portal", Name: "Meterflow", DefaultPath: "/app",
		SessionCookie: SessionCookie, LoginCookie: FormCookie, Home: "Meterflow", Pages: pages,
	}, cfg, web.Deps{Identity: d.Identity, Users: d.Users, Redis: d.Redis, Log: log})
	if err != nil {
		return nil, err
	}
	return &Portal{site: srv, d: d, log: log}, nil
}

// Register mounts the pages on r, normally app.Group("/app").
func (p *Portal) Register(r fiber.Router) {
	p.site.MountPublic(r)
	r.Get("/verify-email", p.verifyForm)
	r.Post("/verify-email", p.verify)
	r.Get("/reset-password", p.resetForm)
	r.Post("/reset-password", p.reset)
}

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
	ctx, cancel := p.call(x)
	defer cancel()
	if _, err := p.d.Identity.VerifyEmail(ctx, &identityv1.VerifyEmailRequest{Token: v.Token}); err != nil {
		return p.fail(x, "verify_email", "Verify your email", v, err)
	}
	return p.site.Render(x, nil, http.StatusOK, "done", "Email verified", "", doneView{
		Heading: "Email verified", Message: "Thank you: your email address is verified. You can close this page.",
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
	ctx, cancel := p.call(x)
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

// call is the context of one service call of a page.
func (p *Portal) call(x *fiber.Ctx) (context.Context, context.CancelFunc) {
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
