package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/gofiber/fiber/v2"
	"google.golang.org/grpc/status"

	"github.com/meterflow/meterflow/gateway/internal/problem"
	"github.com/meterflow/meterflow/gateway/internal/rpcclient"
	"github.com/meterflow/meterflow/platform/callauth"
	"github.com/meterflow/meterflow/platform/rpcerr"
)

// ErrNotFound is the page of an address that names nothing: an unknown
// route, or an id that cannot exist.
var ErrNotFound = problem.New(http.StatusNotFound, rpcerr.NotFound, "There is nothing at this address. It may have been mistyped, or the item does not exist.")

// BadRequest is the error page of input the user can fix.
func BadRequest(msg string) error {
	return problem.New(http.StatusBadRequest, rpcerr.ValidationFailed, msg)
}

// Page wraps a handler that needs a signed-in user: it loads the session
// (or sends the browser to the login page), checks the CSRF token of every
// POST, records the activity, renews the access token, and turns errors
// into error pages (Fail).
func (c *Server) Page(h func(x *fiber.Ctx, s *Session) error) fiber.Handler {
	return func(x *fiber.Ctx) error {
		ctx := x.UserContext()
		s, err := c.LoadSession(ctx, x.Cookies(c.site.SessionCookie))
		if errors.Is(err, errNoSession) {
			if x.Method() == fiber.MethodGet {
				return x.Redirect(c.base+"/login?next="+url.QueryEscape(x.OriginalURL()), fiber.StatusSeeOther)
			}
			// A POST without a session cannot carry a valid CSRF token.
			return c.errorPage(x, nil, problem.New(http.StatusForbidden, rpcerr.Forbidden, "Your login has ended, so the form was not sent. Sign in again and repeat the action."))
		}
		if err != nil {
			c.log.ErrorContext(ctx, "session store failed", "err", err)
			return c.errorPage(x, nil, problem.New(http.StatusServiceUnavailable, rpcerr.ServiceUnavailable, "The session store did not answer. Try again in a moment."))
		}
		if !csrfOK(x, s) {
			return c.errorPage(x, s, problem.New(http.StatusForbidden, rpcerr.Forbidden, "The form's security token is missing or wrong, so nothing was changed. Reload the page and try again."))
		}
		if err := c.touchSession(ctx, s); err != nil {
			// The page still works; at worst the session ends idle early.
			c.log.WarnContext(ctx, "could not record session activity", "err", err)
		}
		s, err = c.freshAccess(ctx, s)
		if errors.Is(err, errNoSession) {
			c.setCookie(x, c.site.SessionCookie, "", -1)
			return x.Redirect(c.base+"/login?ended=1", fiber.StatusSeeOther)
		}
		if err != nil {
			return c.Fail(x, nil, err)
		}
		if err := h(x, s); err != nil {
			return c.Fail(x, s, err)
		}
		return nil
	}
}

// Fail answers err as an error page with the status, title and message of
// the gateway's error table (problem.FromError), the same an API client
// gets: 4xx messages are the service's, 5xx ones generic, and the real
// error goes to the log. A 401 ends the session instead: the login is over.
func (c *Server) Fail(x *fiber.Ctx, s *Session, err error) error {
	p := problem.FromError(err)
	if p.Status >= 500 {
		attrs := []any{"path", x.Path(), "err", err}
		if m := rpcclient.Method(err); m != "" {
			attrs = append(attrs, "method", m, "grpc_code", status.Code(err).String())
		}
		c.log.ErrorContext(x.UserContext(), "page failed", attrs...)
	}
	if p.Status == fiber.StatusUnauthorized && s != nil {
		c.endSession(x.UserContext(), s)
		c.setCookie(x, c.site.SessionCookie, "", -1)
		return x.Redirect(c.base+"/login?ended=1", fiber.StatusSeeOther)
	}
	return c.errorPage(x, s, p)
}

// errorPage renders p as a page.
func (c *Server) errorPage(x *fiber.Ctx, s *Session, p *problem.Problem) error {
	return c.Render(x, s, p.Status, "error", p.Title, "", p)
}

// Call returns a context for one page's service calls, carrying the
// user's access token, bounded by Config.CallTimeout.
func (c *Server) Call(x *fiber.Ctx, s *Session) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(x.UserContext(), c.cfg.CallTimeout)
	return callauth.WithUserToken(ctx, s.Access), cancel
}

// CallTimeout is the bound of one page's service calls (Config.CallTimeout).
func (c *Server) CallTimeout() time.Duration { return c.cfg.CallTimeout }
