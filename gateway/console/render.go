package console

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/url"
	"path"
	"strings"

	"github.com/gofiber/fiber/v2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/meterflow/meterflow/gateway/internal/rpcclient"
	"github.com/meterflow/meterflow/platform/callauth"
	"github.com/meterflow/meterflow/platform/rpcerr"
)

//go:embed templates/*.html
var templateFS embed.FS

// parsePages parses each page template together with the layout and the
// shared tables.
func parsePages() (map[string]*template.Template, error) {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		base := path.Base(n)
		if base == "layout.html" || base == "partials.html" {
			continue
		}
		t, err := template.New(base).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/partials.html", n)
		if err != nil {
			return nil, fmt.Errorf("console template %s: %w", base, err)
		}
		pages[strings.TrimSuffix(base, ".html")] = t
	}
	return pages, nil
}

// view is what every page template receives.
type view struct {
	Base  string
	Title string
	// Nav names the active top-nav entry.
	Nav   string
	Me    string
	CSRF  string
	Flash string
	Data  any
}

// render writes page name with data; it consumes the session's flash.
func (c *Console) render(x *fiber.Ctx, s *session, code int, name, title, nav string, data any) error {
	v := view{Base: c.base, Title: title, Nav: nav, Data: data}
	if s != nil {
		v.Me, v.CSRF, v.Flash = s.Email, s.CSRF, s.Flash
		if s.Flash != "" {
			s.Flash = ""
			if err := c.saveSession(x.UserContext(), s); err != nil {
				c.log.WarnContext(x.UserContext(), "console: could not clear a flash message", "err", err)
			}
		}
	}
	t, ok := c.pages[name]
	if !ok {
		return fmt.Errorf("console: no template %q", name)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		c.log.ErrorContext(x.UserContext(), "console: template failed", "page", name, "err", err)
		return x.Status(fiber.StatusInternalServerError).SendString("The page could not be shown.")
	}
	x.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return x.Status(code).Send(buf.Bytes())
}

// pageError is an error with the status and words an operator should see.
type pageError struct {
	Status  int
	Title   string
	Message string
}

func (e *pageError) Error() string { return e.Title + ": " + e.Message }

var errNotFound = &pageError{Status: fiber.StatusNotFound, Title: "Not found", Message: "There is nothing at this address. It may have been mistyped, or the item does not exist."}

// badRequest is a page error for input the operator can fix.
func badRequest(msg string) error {
	return &pageError{Status: fiber.StatusBadRequest, Title: "Check your input", Message: msg}
}

// friendly maps an error to what the operator sees: service errors by
// their gRPC code, never a stack trace or an internal message.
func friendly(err error) *pageError {
	var pe *pageError
	if errors.As(err, &pe) {
		return pe
	}
	st, ok := status.FromError(err)
	if !ok {
		if errors.Is(err, context.DeadlineExceeded) {
			return &pageError{Status: fiber.StatusGatewayTimeout, Title: "Too slow", Message: "A service took too long to answer. Try again."}
		}
		return &pageError{Status: fiber.StatusInternalServerError, Title: "Something went wrong", Message: "The page could not be loaded. Try again; if it keeps failing, check the gateway's logs."}
	}
	switch st.Code() {
	case codes.NotFound:
		return errNotFound
	case codes.InvalidArgument:
		return &pageError{Status: fiber.StatusBadRequest, Title: "Check your input", Message: validationMessage(err)}
	case codes.AlreadyExists, codes.FailedPrecondition, codes.Aborted:
		return &pageError{Status: fiber.StatusConflict, Title: "Not possible right now", Message: st.Message()}
	case codes.PermissionDenied:
		return &pageError{Status: fiber.StatusForbidden, Title: "Not allowed", Message: "Your account may not do this (the services require the admin role)."}
	case codes.Unauthenticated:
		return &pageError{Status: fiber.StatusUnauthorized, Title: "Signed out", Message: "Your login has ended. Sign in again."}
	case codes.ResourceExhausted:
		// As in the API's table (internal/problem): only our own throttle is
		// a rate limit; gRPC's message-size cap falls through to the 500.
		if rpcerr.Reason(err) == rpcerr.RateLimited {
			return &pageError{Status: fiber.StatusTooManyRequests, Title: "Too many attempts", Message: "Wait a minute and try again."}
		}
	case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled:
		return &pageError{Status: fiber.StatusServiceUnavailable, Title: "Service unavailable", Message: "A service did not answer. Try again in a moment."}
	case codes.Unimplemented:
		return &pageError{Status: fiber.StatusNotImplemented, Title: "Not available yet", Message: "This service does not offer this yet."}
	}
	return &pageError{Status: fiber.StatusInternalServerError, Title: "Something went wrong", Message: "A service failed. Try again; if it keeps failing, check the services' logs."}
}

// validationMessage lists the invalid fields of an InvalidArgument error.
func validationMessage(err error) string {
	fields := rpcerr.Fields(err)
	if len(fields) == 0 {
		if st, ok := status.FromError(err); ok && st.Message() != "" {
			return st.Message()
		}
		return "Some values are not valid."
	}
	parts := make([]string, len(fields))
	for i, f := range fields {
		parts[i] = strings.ReplaceAll(f.Field, "_", " ") + " " + f.Message
	}
	return strings.Join(parts, "; ")
}

// isAuthError reports whether err means the credentials are no longer good.
func isAuthError(err error) bool {
	return status.Code(err) == codes.Unauthenticated
}

// page wraps a handler that needs a logged-in admin: it loads the session
// (or sends the browser to the login page), checks the CSRF token of every
// POST, renews the access token, and turns errors into friendly pages.
func (c *Console) page(h func(x *fiber.Ctx, s *session) error) fiber.Handler {
	return func(x *fiber.Ctx) error {
		ctx := x.UserContext()
		s, err := c.loadSession(ctx, x.Cookies(SessionCookie))
		if errors.Is(err, errNoSession) {
			if x.Method() == fiber.MethodGet {
				return x.Redirect(c.base+"/login?next="+url.QueryEscape(x.OriginalURL()), fiber.StatusSeeOther)
			}
			// A POST without a session cannot carry a valid CSRF token.
			return c.render(x, nil, fiber.StatusForbidden, "error", "Forbidden", "", &pageError{Status: 403, Title: "Session expired", Message: "Your login has ended, so the form was not sent. Sign in again and repeat the action."})
		}
		if err != nil {
			c.log.ErrorContext(ctx, "console: session store failed", "err", err)
			return c.render(x, nil, fiber.StatusServiceUnavailable, "error", "Unavailable", "", &pageError{Status: 503, Title: "Sessions unavailable", Message: "The session store did not answer. Try again in a moment."})
		}
		if x.Method() == fiber.MethodPost && !equalTokens(s.CSRF, x.FormValue("csrf")) {
			return c.render(x, s, fiber.StatusForbidden, "error", "Forbidden", "", &pageError{Status: 403, Title: "Form expired", Message: "The form's security token is missing or wrong, so nothing was changed. Reload the page and try again."})
		}
		if err := c.touchSession(ctx, s); err != nil {
			// The page still works; at worst the session ends idle early.
			c.log.WarnContext(ctx, "console: could not record session activity", "err", err)
		}
		s, err = c.freshAccess(ctx, s)
		if errors.Is(err, errNoSession) {
			c.setCookie(x, SessionCookie, "", -1)
			return x.Redirect(c.base+"/login?ended=1", fiber.StatusSeeOther)
		}
		if err != nil {
			return c.fail(x, nil, err)
		}
		if err := h(x, s); err != nil {
			return c.fail(x, s, err)
		}
		return nil
	}
}

// fail renders err as a friendly page and logs what the operator does not see.
func (c *Console) fail(x *fiber.Ctx, s *session, err error) error {
	pe := friendly(err)
	if pe.Status >= 500 {
		attrs := []any{"path", x.Path(), "err", err}
		if m := rpcclient.Method(err); m != "" {
			attrs = append(attrs, "method", m, "grpc_code", status.Code(err).String())
		}
		c.log.ErrorContext(x.UserContext(), "console: page failed", attrs...)
	}
	if pe.Status == fiber.StatusUnauthorized && s != nil {
		c.endSession(x.UserContext(), s)
		c.setCookie(x, SessionCookie, "", -1)
		return x.Redirect(c.base+"/login?ended=1", fiber.StatusSeeOther)
	}
	return c.render(x, s, pe.Status, "error", pe.Title, "", pe)
}

// call returns a context for one page's service calls, carrying the
// admin's access token.
func (c *Console) call(x *fiber.Ctx, s *session) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(x.UserContext(), c.cfg.CallTimeout)
	return callauth.WithUserToken(ctx, s.Access), cancel
}

// flash stores a notice for the next page and redirects there.
func (c *Console) flashRedirect(x *fiber.Ctx, s *session, msg, to string) error {
	s.Flash = msg
	if err := c.saveSession(x.UserContext(), s); err != nil {
		c.log.WarnContext(x.UserContext(), "console: could not save a flash message", "err", err)
	}
	return x.Redirect(to, fiber.StatusSeeOther)
}
