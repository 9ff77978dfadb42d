// Package console is the operators' web console, mounted by the gateway at
// /admin: server-rendered pages (html/template, embedded templates, no
// JavaScript) over the services' admin RPCs.
//
// The console is a gateway-internal client built from the shared page parts
// of internal/web: it logs an admin in through identity, keeps the admin's
// tokens in a server-side session (Redis, sealed with AES-256-GCM) and
// forwards the access token on every call (callauth.WithUserToken), so each
// service checks the admin role itself, exactly as for the public admin API.
// What is its own here are its pages and their handlers.
package console

import (
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"

	"github.com/gofiber/fiber/v2"
	"github.com/redis/go-redis/v9"

	"github.com/meterflow/meterflow/gateway/internal/csvexport"
	"github.com/meterflow/meterflow/gateway/internal/ratelimit"
	"github.com/meterflow/meterflow/gateway/internal/web"
	"github.com/meterflow/meterflow/platform/callauth"
	identityv1 "github.com/meterflow/meterflow/proto/gen/meterflow/identity/v1"
	notifyv1 "github.com/meterflow/meterflow/proto/gen/meterflow/notify/v1"
	walletv1 "github.com/meterflow/meterflow/proto/gen/meterflow/wallet/v1"
	workflowv1 "github.com/meterflow/meterflow/proto/gen/meterflow/workflow/v1"
)

// Cookie names. The session cookie holds only a random id; everything else
// stays in Redis, sealed. The pre-session cookie carries the login form's
// CSRF token.
const (
	SessionCookie = "mf_admin"
	LoginCookie   = "mf_admin_login"
)

// CSP is the Content-Security-Policy of every console response.
const CSP = web.CSP

// Deps are the clients the console works with.
type Deps struct {
	// Identity, Wallet and Workflow are the services' clients, dialed with
	// the gateway's service credentials (callauth.Minter.Credentials).
	Identity identityv1.IdentityServiceClient
	Wallet   walletv1.WalletServiceClient
	Workflow workflowv1.WorkflowServiceClient
	// Webhooks is notify's WebhookService: a user's webhook endpoints and
	// recent deliveries on the user's page (hidden when nil).
	Webhooks notifyv1.WebhookServiceClient
	// Users verifies the access tokens identity issues, to read the admin
	// flag and the expiry of a fresh token.
	Users callauth.AccessVerifier
	// Redis stores sessions.
	Redis *redis.Client
	// Limiter counts login attempts per client IP: the gateway's limiter
	// (class console_login). nil: one of the console's own on Redis.
	Limiter *ratelimit.Limiter
	// Log receives warnings and errors; nil discards them.
	Log *slog.Logger
	// ClientIP returns the client address of a request (the gateway's
	// trusted-proxy aware resolver); nil uses fiber's c.IP().
	ClientIP func(c *fiber.Ctx) string
}

// Config are the console's knobs (see web.Config); zero values take the
// defaults.
type Config = web.Config

// DevSessionKeyBase64 is the published development SESSION_ENCRYPTION_KEY.
const DevSessionKeyBase64 = web.DevSessionKeyBase64

// DevSessionKey returns the decoded DevSessionKeyBase64.
func DevSessionKey() []byte { return web.DevSessionKey() }

// ConfigFromEnv reads COOKIE_SECURE (default true), CONSOLE_SESSION_TTL
// (default 8h), CONSOLE_IDLE_TIMEOUT (default 30m),
// CONSOLE_LOGIN_PER_MINUTE (default 10) and SESSION_ENCRYPTION_KEY (no
// default here: see Config.SessionKey), through platform/envconfig.
func ConfigFromEnv() (Config, error) {
	return web.ConfigFromEnv(web.EnvNames{
		SessionTTL: "CONSOLE_SESSION_TTL", IdleTimeout: "CONSOLE_IDLE_TIMEOUT", LoginPerMinute: "CONSOLE_LOGIN_PER_MINUTE",
	})
}

//go:embed templates/*.html
var templateFS embed.FS

// site is what the console is among the gateway's sites.
func site() (web.Site, error) {
	pages, err := fs.Sub(templateFS, "templates")
	return web.Site{
		ID: "console", Name: "Meterflow admin", DefaultPath: "/admin",
		SessionCookie: SessionCookie, LoginCookie: LoginCookie,
		RequireAdmin: true, Refused: "This account is not an administrator. The console is for admins only.",
		LoginNote: "Administrators only. Other accounts are refused.",
		Home:      "the overview",
		Pages:     pages,
		Funcs:     template.FuncMap{"exportRows": func() int { return csvexport.DefaultMaxRows }, "since": since, "until": until},
	}, err
}

// Console serves the admin pages.
type Console struct {
	site *web.Server
	d    Deps
	log  *slog.Logger
}

// New checks deps and parses the templates.
func New(cfg Config, deps Deps) (*Console, error) {
	if deps.Identity == nil || deps.Wallet == nil || deps.Workflow == nil {
		return nil, errors.New("console: the identity, wallet and workflow clients are required")
	}
	s, err := site()
	if err != nil {
		return nil, err
	}
	log := deps.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	srv, err := web.New(s, cfg, web.Deps{
		Identity: deps.Identity, Users: deps.Users, Redis: deps.Redis, Limiter: deps.Limiter,
		Log: log, ClientIP: deps.ClientIP,
	})
	if err != nil {
		return nil, err
	}
	return &Console{site: srv, d: deps, log: log}, nil
}

// Register mounts the console on r, normally app.Group("/admin"). The
// cookie path and the links' prefix are the group's prefix (or
// Config.BasePath).
func (c *Console) Register(r fiber.Router) {
	c.site.Mount(r)
	page := c.site.Page
	r.Get("/", page(c.overview))
	r.Get("/users", page(c.users))
	r.Get("/users/:id", page(c.user))
	r.Post("/users/:id/flags/confirm", page(c.flagsConfirm))
	r.Post("/users/:id/flags", page(c.flagsApply))
	r.Post("/users/:id/adjust/confirm", page(c.adjustConfirm))
	r.Post("/users/:id/adjust", page(c.adjustApply))
	r.Get("/transactions", page(c.transactions))
	r.Get("/transactions.csv", page(c.transactionsCSV))
	r.Get("/runs", page(c.runs))
	r.Get("/runs.csv", page(c.runsCSV))
	r.Get("/runs/:id", page(c.run))
	r.Get("/workflows", page(c.workflows))
	r.Get("/workflows/new", page(c.workflowNew))
	r.Post("/workflows", page(c.workflowCreate))
	r.Get("/workflows/:slug", page(c.workflowEdit))
	r.Post("/workflows/:slug", page(c.workflowUpdate))
	r.Post("/workflows/:slug/active/confirm", page(c.workflowActiveConfirm))
	r.Post("/workflows/:slug/active", page(c.workflowActive))
	r.Get("/audit", page(c.audit))
	r.Get("/disputes", page(c.disputes))
	r.Use(c.site.NotFound())
}

// render writes one of the console's pages.
func (c *Console) render(x *fiber.Ctx, s *web.Session, code int, name, title, nav string, data any) error {
	return c.site.Render(x, s, code, name, title, nav, data)
}

// ParsePages parses every page template now (they are parsed on the first
// page shown); tests call it so that a broken template fails them.
func (x *Console) ParsePages() error { return x.site.ParsePages() }
