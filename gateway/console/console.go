// Package console is the operators' web console, mounted by the gateway at
// /admin: server-rendered pages (html/template, embedded templates and CSS,
// no JavaScript) over the services' admin RPCs.
//
// The console is a gateway-internal client: it logs an admin in through
// identity, keeps the admin's tokens in a server-side session (Redis,
// sealed with AES-256-GCM) and
// forwards the access token on every call (callauth.WithUserToken), so each
// service checks the admin role itself, exactly as for the public admin API.
package console

import (
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-redis/redis_rate/v10"
	"github.com/gofiber/fiber/v2"
	"github.com/redis/go-redis/v9"

	"github.com/meterflow/meterflow/platform/callauth"
	"github.com/meterflow/meterflow/platform/secretbox"
	identityv1 "github.com/meterflow/meterflow/proto/gen/meterflow/identity/v1"
	walletv1 "github.com/meterflow/meterflow/proto/gen/meterflow/wallet/v1"
	workflowv1 "github.com/meterflow/meterflow/proto/gen/meterflow/workflow/v1"
)

// Deps are the clients the console works with.
type Deps struct {
	// Identity, Wallet and Workflow are the services' clients, dialed with
	// the gateway's service credentials (callauth.Minter.Credentials).
	Identity identityv1.IdentityServiceClient
	Wallet   walletv1.WalletServiceClient
	Workflow workflowv1.WorkflowServiceClient
	// Users verifies the access tokens identity issues, to read the admin
	// flag and the expiry of a fresh token.
	Users callauth.AccessVerifier
	// Redis stores sessions and counts login attempts per client IP.
	Redis *redis.Client
	// Log receives warnings and errors; nil discards them.
	Log *slog.Logger
	// ClientIP returns the client address of a request (the gateway's
	// trusted-proxy aware resolver); nil uses fiber's c.IP().
	ClientIP func(c *fiber.Ctx) string
}

// Config are the console's knobs; zero values take the defaults below.
type Config struct {
	// CookieSecure sets the Secure flag on the console's cookies
	// (COOKIE_SECURE, default true; false only for http://localhost).
	CookieSecure bool
	// SessionTTL is the absolute lifetime of a login (default 8h). The
	// login's refresh token lives no longer (identity's refresh_ttl).
	SessionTTL time.Duration
	// IdleTimeout ends a login unused this long (CONSOLE_IDLE_TIMEOUT,
	// default 30m).
	IdleTimeout time.Duration
	// SessionKey seals the sessions in Redis (AES-256-GCM; 32 bytes,
	// SESSION_ENCRYPTION_KEY as base64). Required by New: the gateway
	// supplies DevSessionKey outside production, and refuses to start
	// without a key of its own in production.
	SessionKey []byte
	// LoginPerMinute caps login attempts per client IP (default 10).
	LoginPerMinute int
	// KeyPrefix prefixes every Redis key of the console (default "console:").
	KeyPrefix string
	// CallTimeout bounds each service call of a page (default 10s).
	CallTimeout time.Duration
	// CSVMaxRows caps one CSV export (default 50000).
	CSVMaxRows int
	// BasePath is where the console is mounted; default: the prefix of the
	// router given to Register, or "/admin".
	BasePath string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// DevSessionKeyBase64 is the published development SESSION_ENCRYPTION_KEY
// ("meterflow-dev-only-console-key!!"): it protects nothing, and
// production refuses it.
const DevSessionKeyBase64 = "bWV0ZXJmbG93LWRldi1vbmx5LWNvbnNvbGUta2V5ISE="

// DevSessionKey returns the decoded DevSessionKeyBase64.
func DevSessionKey() []byte {
	k, _ := secretbox.ParseKey(DevSessionKeyBase64)
	return k
}

// ConfigFromEnv reads COOKIE_SECURE (default true), CONSOLE_SESSION_TTL
// (default 8h), CONSOLE_IDLE_TIMEOUT (default 30m),
// CONSOLE_LOGIN_PER_MINUTE (default 10) and SESSION_ENCRYPTION_KEY (no
// default here: see Config.SessionKey) through getenv (os.Getenv when nil).
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	cfg := Config{CookieSecure: true, SessionTTL: 8 * time.Hour, IdleTimeout: 30 * time.Minute, LoginPerMinute: 10}
	if v := getenv("COOKIE_SECURE"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return Config{}, fmt.Errorf("COOKIE_SECURE: %w", err)
		}
		cfg.CookieSecure = b
	}
	if v := getenv("CONSOLE_SESSION_TTL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Minute {
			return Config{}, fmt.Errorf("CONSOLE_SESSION_TTL: want a duration of at least 1m, got %q", v)
		}
		cfg.SessionTTL = d
	}
	if v := getenv("CONSOLE_IDLE_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Minute {
			return Config{}, fmt.Errorf("CONSOLE_IDLE_TIMEOUT: want a duration of at least 1m, got %q", v)
		}
		cfg.IdleTimeout = d
	}
	if v := getenv("SESSION_ENCRYPTION_KEY"); v != "" {
		k, err := secretbox.ParseKey(v)
		if err != nil {
			return Config{}, fmt.Errorf("SESSION_ENCRYPTION_KEY: want base64 of 32 random bytes (openssl rand -base64 32): %w", err)
		}
		cfg.SessionKey = k
	}
	if v := getenv("CONSOLE_LOGIN_PER_MINUTE"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return Config{}, fmt.Errorf("CONSOLE_LOGIN_PER_MINUTE: want a positive integer, got %q", v)
		}
		cfg.LoginPerMinute = n
	}
	return cfg, nil
}

// Console serves the admin pages.
type Console struct {
	cfg     Config
	d       Deps
	log     *slog.Logger
	pages   map[string]*template.Template
	limiter *redis_rate.Limiter
	box     *secretbox.Box
	base    string
}

// New checks deps and parses the embedded templates.
func New(cfg Config, deps Deps) (*Console, error) {
	switch {
	case deps.Identity == nil || deps.Wallet == nil || deps.Workflow == nil:
		return nil, errors.New("console: the identity, wallet and workflow clients are required")
	case deps.Redis == nil:
		return nil, errors.New("console: Redis is required for sessions")
	case deps.Users.Keys == nil:
		return nil, errors.New("console: an access-token verifier is required")
	case len(cfg.SessionKey) == 0:
		return nil, errors.New("console: a session encryption key is required (SESSION_ENCRYPTION_KEY)")
	}
	box, err := secretbox.New(cfg.SessionKey)
	if err != nil {
		return nil, fmt.Errorf("console: SESSION_ENCRYPTION_KEY: %w", err)
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 8 * time.Hour
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 30 * time.Minute
	}
	if cfg.LoginPerMinute <= 0 {
		cfg.LoginPerMinute = 10
	}
	if cfg.KeyPrefix == "" {
		cfg.KeyPrefix = "console:"
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = 10 * time.Second
	}
	if cfg.CSVMaxRows <= 0 {
		cfg.CSVMaxRows = 50000
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := deps.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	return &Console{cfg: cfg, d: deps, log: log, pages: pages, limiter: redis_rate.NewLimiter(deps.Redis), box: box}, nil
}

// Register mounts the console on r, normally app.Group("/admin").
func (c *Console) Register(r fiber.Router) {
	c.base = strings.TrimSuffix(c.cfg.BasePath, "/")
	if c.cfg.BasePath == "" {
		c.base = "/admin"
		if g, ok := r.(*fiber.Group); ok {
			c.base = strings.TrimSuffix(g.Prefix, "/")
		}
	}
	r.Use(securityHeaders, requireUTF8)
	r.Get("/static/console.css", serveCSS)
	r.Get("/login", c.loginPage)
	r.Post("/login", c.login)

	r.Get("/", c.page(c.overview))
	r.Post("/logout", c.page(c.logout))
	r.Get("/users", c.page(c.users))
	r.Get("/users/:id", c.page(c.user))
	r.Post("/users/:id/flags/confirm", c.page(c.flagsConfirm))
	r.Post("/users/:id/flags", c.page(c.flagsApply))
	r.Post("/users/:id/adjust/confirm", c.page(c.adjustConfirm))
	r.Post("/users/:id/adjust", c.page(c.adjustApply))
	r.Get("/transactions", c.page(c.transactions))
	r.Get("/transactions.csv", c.page(c.transactionsCSV))
	r.Get("/runs", c.page(c.runs))
	r.Get("/runs.csv", c.page(c.runsCSV))
	r.Get("/runs/:id", c.page(c.run))
	r.Get("/workflows", c.page(c.workflows))
	r.Get("/workflows/new", c.page(c.workflowNew))
	r.Post("/workflows", c.page(c.workflowCreate))
	r.Get("/workflows/:slug", c.page(c.workflowEdit))
	r.Post("/workflows/:slug", c.page(c.workflowUpdate))
	r.Post("/workflows/:slug/active/confirm", c.page(c.workflowActiveConfirm))
	r.Post("/workflows/:slug/active", c.page(c.workflowActive))
	r.Get("/audit", c.page(c.audit))
	r.Use(c.page(func(x *fiber.Ctx, _ *session) error { return errNotFound }))
}

// securityHeaders sends a strict CSP and no-store on every console response:
// the pages carry balances and personal data, and ship no script at all.
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

// CSP is the Content-Security-Policy of every console response.
const CSP = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
