// Package web holds the parts every server-rendered site of the gateway is
// built from: the admin console at /admin today, the user portal at /app
// next. A Site is one set of pages under one path with
//
//   - the base layout, the shared templates (error page, login page, form
//     parts) and the one stylesheet;
//   - sessions kept in Redis, sealed with platform/secretbox, with an idle
//     timeout and an absolute lifetime that the login's refresh token does
//     not outlive;
//   - CSRF tokens on every form (per session; double-submit on the login);
//   - login and logout through identity, throttled per client IP by the
//     gateway's limiter, admitting only admins or every active user;
//   - strict security headers, and error pages that show the status and
//     message of the gateway's one error table (internal/problem).
//
// What a site adds is its pages (templates in an fs.FS) and its handlers,
// which receive the logged-in Session.
package web

import (
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
	"github.com/redis/go-redis/v9"

	"github.com/meterflow/meterflow/gateway/internal/ratelimit"
	"github.com/meterflow/meterflow/platform/callauth"
	"github.com/meterflow/meterflow/platform/secretbox"
	identityv1 "github.com/meterflow/meterflow/proto/gen/meterflow/identity/v1"
)

// Site is what is fixed in code about one set of pages; Config holds what
// a deployment chooses.
type Site struct {
	// ID names the site in logs, metrics and Redis keys ("console").
	ID string
	// Name is the brand of the header, the login page and page titles.
	Name string
	// DefaultPath is where the site is mounted when neither Config.BasePath
	// nor the router given to Mount says otherwise.
	DefaultPath string
	// SessionCookie holds the session id; LoginCookie the login form's
	// CSRF token before a session exists.
	SessionCookie, LoginCookie string
	// RequireAdmin admits admins only: another account's login is refused
	// (Refused says so) and revoked, and a session whose refreshed access
	// token lost the admin claim ends.
	RequireAdmin bool
	Refused      string
	// LoginNote is the line under the login form.
	LoginNote string
	// Home names the start page on error pages' way back ("the overview").
	Home string
	// Pages holds the site's templates, *.html: each file is a page that
	// defines "content", except files whose names start with "_", which
	// hold parts every page may use (define "nav" there for the header's
	// navigation).
	Pages fs.FS
	// Funcs are template functions of the site, on top of Funcs.
	Funcs template.FuncMap
}

// Config are a deployment's knobs of a site; zero values take defaults.
type Config struct {
	// CookieSecure sets the Secure flag on the site's cookies
	// (COOKIE_SECURE, default true; false only for http://localhost).
	CookieSecure bool
	// SessionTTL is the absolute lifetime of a login (default 8h). The
	// login's refresh token lives no longer (identity's refresh_ttl).
	SessionTTL time.Duration
	// IdleTimeout ends a login unused this long (default 30m).
	IdleTimeout time.Duration
	// SessionKey seals the sessions in Redis (AES-256-GCM; 32 bytes,
	// SESSION_ENCRYPTION_KEY as base64). Required by New: the gateway
	// supplies DevSessionKey outside production, and refuses to start
	// without a key of its own in production.
	SessionKey []byte
	// LoginPerMinute caps login attempts per client IP (default 10).
	LoginPerMinute int
	// KeyPrefix prefixes every Redis key of the site (default Site.ID + ":").
	KeyPrefix string
	// CallTimeout bounds each service call of a page (default 10s).
	CallTimeout time.Duration
	// BasePath is where the site is mounted; default: the prefix of the
	// router given to Mount, or Site.DefaultPath.
	BasePath string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Deps are the clients a site works with.
type Deps struct {
	// Identity logs users in and out and refreshes their tokens; it is
	// dialed with the gateway's service credentials.
	Identity identityv1.IdentityServiceClient
	// Users verifies the access tokens identity issues, to read the admin
	// flag and the expiry of a fresh token.
	Users callauth.AccessVerifier
	// Redis stores the sessions.
	Redis *redis.Client
	// Limiter counts login attempts per client IP (class Site.ID+"_login"):
	// the gateway's, so the limits share one implementation and one set of
	// metrics. nil: a limiter of the site's own on Redis, under KeyPrefix.
	Limiter *ratelimit.Limiter
	// Log receives warnings and errors; nil discards them.
	Log *slog.Logger
	// ClientIP returns the client address of a request (the gateway's
	// trusted-proxy aware resolver); nil uses fiber's c.IP().
	ClientIP func(c *fiber.Ctx) string
}

// Server serves one Site: its sessions, its login and its pages.
type Server struct {
	site Site
	cfg  Config
	d    Deps
	log  *slog.Logger
	// pages parses the site's templates on the first page shown (see
	// parsePages): an idle gateway does not hold three sites' parsed trees.
	pages   func() (map[string]*template.Template, error)
	limiter *ratelimit.Limiter
	box     *secretbox.Box
	base    string
}

// New checks the configuration; the site's templates are parsed when the
// first page is shown (the tests of each site render every page).
func New(site Site, cfg Config, deps Deps) (*Server, error) {
	switch {
	case deps.Identity == nil:
		return nil, errors.New("web: the identity client is required")
	case deps.Redis == nil:
		return nil, errors.New("web: Redis is required for sessions")
	case deps.Users.Keys == nil:
		return nil, errors.New("web: an access-token verifier is required")
	case len(cfg.SessionKey) == 0:
		return nil, errors.New("web: a session encryption key is required (SESSION_ENCRYPTION_KEY)")
	case site.ID == "" || site.SessionCookie == "" || site.LoginCookie == "" || site.DefaultPath == "":
		return nil, errors.New("web: the site needs its id, cookie names and default path")
	}
	box, err := secretbox.New(cfg.SessionKey)
	if err != nil {
		return nil, fmt.Errorf("web: SESSION_ENCRYPTION_KEY: %w", err)
	}
	cfg = cfg.withDefaults(site)
	log := deps.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("site", site.ID)
	limiter := deps.Limiter
	if limiter == nil {
		if limiter, err = ratelimit.New(deps.Redis, ratelimit.Options{Prefix: cfg.KeyPrefix, Logger: log}); err != nil {
			return nil, err
		}
	}
	pages := sync.OnceValues(func() (map[string]*template.Template, error) { return parsePages(site) })
	return &Server{site: site, cfg: cfg, d: deps, log: log, pages: pages, limiter: limiter, box: box, base: site.DefaultPath}, nil
}

func (c Config) withDefaults(site Site) Config {
	if c.SessionTTL <= 0 {
		c.SessionTTL = 8 * time.Hour
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 30 * time.Minute
	}
	if c.LoginPerMinute <= 0 {
		c.LoginPerMinute = 10
	}
	if c.KeyPrefix == "" {
		c.KeyPrefix = site.ID + ":"
	}
	if c.CallTimeout <= 0 {
		c.CallTimeout = 10 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Mount serves the site's shared routes on r (normally app.Group(path)):
// the security headers and UTF-8 check on everything, the stylesheet, the
// login form and logout. The site registers its pages after it, wrapped in
// Page, and ends with NotFound.
func (s *Server) Mount(r fiber.Router) {
	s.MountPublic(r)
	r.Get("/login", s.loginPage)
	r.Post("/login", s.login)
	r.Post("/logout", s.Page(s.logout))
}

// NotFound is the last handler of a site: a 404 page for signed-in users,
// the login page for others.
func (s *Server) NotFound() fiber.Handler {
	return s.Page(func(*fiber.Ctx, *Session) error { return ErrNotFound })
}

// Base is the path the site is mounted at, e.g. "/admin".
func (s *Server) Base() string { return s.base }

// SessionTTL is the absolute lifetime of a login (Config.SessionTTL): a
// site that starts logins itself (the portal's sign-up) asks identity for
// refresh tokens that live no longer.
func (s *Server) SessionTTL() time.Duration { return s.cfg.SessionTTL }

// SignedIn reports whether the request has a live session (the public
// pages send a signed-in user on to the site instead).
func (s *Server) SignedIn(x *fiber.Ctx) bool {
	sess, err := s.LoadSession(x.UserContext(), x.Cookies(s.site.SessionCookie))
	return err == nil && sess != nil
}

// Now is the site's clock.
func (s *Server) Now() time.Time { return s.cfg.Now() }

// KeyPrefix is the prefix of the site's Redis keys.
func (s *Server) KeyPrefix() string { return s.cfg.KeyPrefix }

// ClientIP is the client address of a request (Deps.ClientIP), for a
// site's own limits.
func (s *Server) ClientIP(x *fiber.Ctx) string { return s.clientIP(x) }

// Limiter is the site's limiter (Deps.Limiter, or its own).
func (s *Server) Limiter() *ratelimit.Limiter { return s.limiter }

// SetClientIP replaces the client-IP resolver (tests pose as other clients).
func (s *Server) SetClientIP(f func(*fiber.Ctx) string) { s.d.ClientIP = f }

// CSP is the Content-Security-Policy of every page: no script at all,
// styles and images from the site only.
const CSP = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// securityHeaders sends a strict CSP and no-store on every response: the
// pages carry balances and personal data, and ship no script at all.
func securityHeaders(c *fiber.Ctx) error {
	c.Set("Content-Security-Policy", CSP)
	c.Set("X-Frame-Options", "DENY")
	c.Set("X-Content-Type-Options", "nosniff")
	c.Set("Referrer-Policy", "same-origin")
	c.Set("Cache-Control", "no-store")
	return c.Next()
}

// requireUTF8 refuses query and form values that are not UTF-8: they would
// travel on as protobuf strings, which cannot carry them, and the call
// would fail as a 500 (e.g. a login form with a byte 0xff in the email).
func requireUTF8(c *fiber.Ctx) error {
	ok := true
	check := func(k, v []byte) { ok = ok && utf8.Valid(k) && utf8.Valid(v) }
	c.Request().URI().QueryArgs().VisitAll(check)
	c.Request().PostArgs().VisitAll(check)
	if !ok {
		return c.Status(fiber.StatusBadRequest).SendString("The request holds text that is not UTF-8.")
	}
	return c.Next()
}
