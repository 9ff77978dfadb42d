package web

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"time"

	"github.com/gofiber/fiber/v2"
)

// CSRF: every session has its own token, which every form of the site
// carries in a hidden field named "csrf" (the "csrf" template); Page
// refuses a POST without it. The login form, before any session exists,
// uses a double-submit token from the pre-session cookie (Site.LoginCookie).

// randomToken returns 256 random bits, URL-safe.
func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go ≥ 1.24)
	return base64.RawURLEncoding.EncodeToString(b)
}

// equalTokens compares secrets in constant time.
func equalTokens(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// csrfOK reports whether a POST carries the session's token.
func csrfOK(x *fiber.Ctx, s *Session) bool {
	return x.Method() != fiber.MethodPost || equalTokens(s.CSRF, x.FormValue("csrf"))
}

// loginToken returns the pre-session CSRF token of the login form, setting
// a new one when the browser has none.
func (c *Server) loginToken(x *fiber.Ctx) string {
	tok := x.Cookies(c.site.LoginCookie)
	if len(tok) < 32 {
		tok = randomToken()
		c.setCookie(x, c.site.LoginCookie, tok, time.Hour)
	}
	return tok
}
