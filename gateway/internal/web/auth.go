package web

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/meterflow/meterflow/gateway/internal/clientip"
	"github.com/meterflow/meterflow/platform/rpcerr"
	identityv1 "github.com/meterflow/meterflow/proto/gen/meterflow/identity/v1"
)

func refreshRequest(tok string) *identityv1.RefreshRequest {
	return &identityv1.RefreshRequest{RefreshToken: tok}
}

func logoutRequest(tok string) *identityv1.LogoutRequest {
	return &identityv1.LogoutRequest{RefreshToken: tok}
}

// loginView is the login page's data.
type loginView struct {
	Email   string
	Next    string
	Error   string
	Notice  string
	LoginCT string
	Note    string
}

func (c *Server) loginPage(x *fiber.Ctx) error {
	if s, err := c.LoadSession(x.UserContext(), x.Cookies(c.site.SessionCookie)); err == nil && s != nil {
		return x.Redirect(c.base+"/", fiber.StatusSeeOther)
	}
	v := loginView{Next: c.safeNext(x.Query("next")), LoginCT: c.loginToken(x)}
	switch {
	case x.Query("ended") != "":
		v.Notice = "Your login has ended. Sign in again."
	case x.Query("out") != "":
		v.Notice = "You are signed out."
	}
	return c.renderLogin(x, fiber.StatusOK, v)
}

func (c *Server) renderLogin(x *fiber.Ctx, code int, v loginView) error {
	v.Note = c.site.LoginNote
	return c.Render(x, nil, code, "login", "Sign in", "", v)
}

// safeNext keeps a post-login target only when it is a path of the site,
// so the login page cannot be used to send someone elsewhere.
func (c *Server) safeNext(next string) string {
	if next == "" || strings.ContainsAny(next, "\\\r\n") || strings.Contains(next, "//") {
		return ""
	}
	if next == c.base || strings.HasPrefix(next, c.base+"/") {
		if strings.HasPrefix(next, c.base+"/login") || strings.HasPrefix(next, c.base+"/logout") {
			return ""
		}
		return next
	}
	return ""
}

func (c *Server) clientIP(x *fiber.Ctx) string {
	if c.d.ClientIP != nil {
		return c.d.ClientIP(x)
	}
	return x.IP()
}

func (c *Server) login(x *fiber.Ctx) error {
	ctx := x.UserContext()
	email := strings.TrimSpace(x.FormValue("email"))
	v := loginView{Email: email, Next: c.safeNext(x.FormValue("next"))}
	cookieTok := x.Cookies(c.site.LoginCookie)
	if !equalTokens(cookieTok, x.FormValue("csrf")) {
		v.LoginCT = c.loginToken(x)
		v.Error = "The form expired. Please sign in again."
		return c.renderLogin(x, fiber.StatusForbidden, v)
	}
	v.LoginCT = cookieTok
	// The gateway's limiter: GCRA in Redis, its in-memory fallback while
	// Redis is down (sign-in then fails at the session store anyway).
	if d := c.limiter.Allow(ctx, c.site.ID+"_login", clientip.LimitKeyOf(c.clientIP(x)), c.cfg.LoginPerMinute); !d.Allowed {
		v.Error = fmt.Sprintf("Too many attempts. Try again in %d seconds.", max(1, int(d.RetryAfter.Round(time.Second).Seconds())))
		return c.renderLogin(x, fiber.StatusTooManyRequests, v)
	}
	password := x.FormValue("password")
	if email == "" || password == "" {
		v.Error = "Enter your email and password."
		return c.renderLogin(x, fiber.StatusBadRequest, v)
	}
	cctx, cancel := context.WithTimeout(ctx, c.cfg.CallTimeout)
	defer cancel()
	// The client address keys identity's per-client throttle; the refresh
	// lifetime makes the login's refresh token die with the session.
	resp, err := c.d.Identity.Login(cctx, &identityv1.LoginRequest{
		Email: email, Password: password, ClientIp: c.clientIP(x), RefreshTtl: durationpb.New(c.cfg.SessionTTL),
	})
	if err != nil {
		code, msg := loginFailure(err)
		if code >= 500 {
			c.log.ErrorContext(ctx, "login call failed", "err", err)
		}
		v.Error = msg
		return c.renderLogin(x, code, v)
	}
	return c.admit(x, v, resp)
}

// errUnavailable is the login page's word for a failure on our side.
const errUnavailable = "Sign-in is unavailable right now. Try again in a moment."

// errNotAdmin is StartSession's refusal of a non-admin on an admins-only site.
var errNotAdmin = errors.New("web: the account is not an administrator")

// admit turns the login identity just started into a session, or shows
// the login form again when that fails.
func (c *Server) admit(x *fiber.Ctx, v loginView, resp *identityv1.LoginResponse) error {
	err := c.StartSession(x, resp.GetUser(), resp.GetTokens())
	switch {
	case errors.Is(err, errNotAdmin):
		v.Error = c.site.Refused
		return c.renderLogin(x, fiber.StatusForbidden, v)
	case err != nil:
		v.Error = errUnavailable
		return c.renderLogin(x, fiber.StatusServiceUnavailable, v)
	}
	next := v.Next
	if next == "" {
		next = c.base + "/"
	}
	return x.Redirect(next, fiber.StatusSeeOther)
}

// StartSession turns a login identity has just started (a Login's or a
// sign-up's first tokens) into a session of the site and sets its cookie.
// When the token does not verify, when the site is for admins and the
// account is not one, or when the session cannot be stored, the login is
// revoked at identity and an error returned (the caller shows its form
// again with ErrUnavailable's message).
func (c *Server) StartSession(x *fiber.Ctx, user *identityv1.User, tokens *identityv1.TokenPair) error {
	ctx := x.UserContext()
	cctx, cancel := context.WithTimeout(ctx, c.cfg.CallTimeout)
	defer cancel()
	revoke := func(why string) {
		if _, err := c.d.Identity.Logout(cctx, logoutRequest(tokens.GetRefreshToken())); err != nil {
			c.log.WarnContext(ctx, "could not revoke a login", "why", why, "err", err)
		}
	}
	p, err := c.d.Users.Verify(cctx, tokens.GetAccessToken())
	if err != nil {
		c.log.ErrorContext(ctx, "fresh access token did not verify", "err", err)
		revoke("token did not verify")
		return err
	}
	if c.site.RequireAdmin && (!p.Admin || !user.GetIsAdmin()) {
		// A non-admin gets nothing here, not even a live refresh token.
		revoke("not an admin")
		return errNotAdmin
	}
	// Expires is taken after identity started the login, so the session
	// never outlives its refresh token by more than clock skew.
	s := &Session{
		id: randomToken(), UserID: p.UserID, Email: user.GetEmail(),
		Access: tokens.GetAccessToken(), Refresh: tokens.GetRefreshToken(), AccessExp: p.ExpiresAt,
		CSRF: randomToken(), Expires: c.cfg.Now().Add(c.cfg.SessionTTL), Started: c.cfg.Now(),
	}
	err = c.SaveSession(ctx, s)
	if err == nil {
		err = c.touchSession(ctx, s)
	}
	if err != nil {
		c.log.ErrorContext(ctx, "could not store a session", "err", err)
		revoke("session not stored")
		return err
	}
	c.setCookie(x, c.site.SessionCookie, s.id, c.cfg.SessionTTL)
	c.setCookie(x, c.site.LoginCookie, "", -1)
	return nil
}

// EndSession forgets the session s and its cookie, e.g. after the user
// ended every login at identity (its refresh token is revoked again, which
// does no harm).
func (c *Server) EndSession(x *fiber.Ctx, s *Session) {
	c.endSession(x.UserContext(), s)
	c.setCookie(x, c.site.SessionCookie, "", -1)
}

// ErrUnavailable is the words of a form that failed on our side.
const ErrUnavailable = errUnavailable

// loginFailure words a failed identity Login for the login page.
func loginFailure(err error) (int, string) {
	switch status.Code(err) {
	case codes.Unauthenticated:
		if rpcerr.Reason(err) == rpcerr.Unauthorized {
			return fiber.StatusForbidden, "This account is disabled."
		}
		return fiber.StatusUnauthorized, "Wrong email or password."
	case codes.ResourceExhausted:
		if d, ok := rpcerr.RetryAfter(err); ok && d > 0 {
			return fiber.StatusTooManyRequests, fmt.Sprintf("Too many attempts. Try again in %d seconds.", max(1, int(d.Round(time.Second).Seconds())))
		}
		return fiber.StatusTooManyRequests, "Too many attempts. Try again later."
	case codes.InvalidArgument:
		return fiber.StatusBadRequest, "Wrong email or password."
	}
	return fiber.StatusServiceUnavailable, errUnavailable
}

// logout revokes the login at identity and forgets the session.
func (c *Server) logout(x *fiber.Ctx, s *Session) error {
	ctx, cancel := context.WithTimeout(x.UserContext(), c.cfg.CallTimeout)
	defer cancel()
	if _, err := c.d.Identity.Logout(ctx, logoutRequest(s.Refresh)); err != nil {
		// The session goes anyway; the refresh token expires on its own.
		c.log.WarnContext(ctx, "could not revoke the refresh token at logout", "err", err)
	}
	if err := c.deleteSession(ctx, s.id); err != nil && !errors.Is(err, context.Canceled) {
		c.log.ErrorContext(ctx, "could not delete a session", "err", err)
		return err
	}
	c.setCookie(x, c.site.SessionCookie, "", -1)
	return x.Redirect(c.base+"/login?out=1", fiber.StatusSeeOther)
}
