// Package portal is the user portal at /app: server-rendered pages for the
// people who pay (shared/spec/api.md, "The user portal"), built from the
// shared page parts of internal/web as the admin console is (ADR 0012,
// ADR 0015). It needs no JavaScript: every action is a form, charts are
// SVG drawn on the server, and a page that waits for something (a run, a
// payment) refreshes itself with a meta refresh.
//
// The portal is a gateway-internal client: it signs the user in through
// identity (the same Login as POST /v1/auth/login: argon2id, identity's
// per-account and per-client throttle, plus the gateway's per-IP limit),
// keeps the user's tokens in a sealed server-side session, and calls the
// services with the user's access token, so each service scopes every
// read and write to that user exactly as for the public API. What the API
// checks in the gateway (verified email before money moves, the per-user
// budgets of runs, top-ups and emails) the portal checks the same way,
// on the same budgets (internal/ratelimit's shared classes).
package portal

import (
	"context"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

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

// Cookie names of the portal: its session, and the CSRF token of its
// public forms (login, sign-up, the emailed links' pages).
const (
	SessionCookie = "mf_app"
	FormCookie    = "mf_app_form"
)

//go:embed templates/*.html
var templateFS embed.FS

// Deps are the clients the portal works with; Identity, Wallet and
// Workflow are dialed with the gateway's service credentials.
type Deps struct {
	Identity identityv1.IdentityServiceClient
	Wallet   walletv1.WalletServiceClient
	Workflow workflowv1.WorkflowServiceClient
	// Webhooks is notify's WebhookService; nil leaves the webhook pages
	// (and their link) out.
	Webhooks notifyv1.WebhookServiceClient
	// Users verifies the access tokens identity issues.
	Users callauth.AccessVerifier
	// Redis stores the sessions.
	Redis *redis.Client
	// Limiter is the gateway's limiter: the login form's class portal_login
	// and the budgets shared with the API. nil: one of the portal's own.
	Limiter *ratelimit.Limiter
	// Log receives warnings and errors; nil discards them.
	Log *slog.Logger
	// ClientIP returns the client address of a request (the gateway's
	// trusted-proxy aware resolver); nil uses fiber's c.IP().
	ClientIP func(c *fiber.Ctx) string
}

// Options are what the gateway decides for the portal beyond web.Config.
type Options struct {
	// PublicBaseURL is the gateway's public URL (PUBLIC_BASE_URL): Stripe
	// Checkout sends the user back to its /app pages.
	PublicBaseURL string
	// RequireVerifiedEmail refuses top-ups, saving a card and runs until
	// the email is verified (REQUIRE_VERIFIED_EMAIL), as the API does.
	RequireVerifiedEmail bool
	// Per-client and per-user budgets, the API's (0 disables one):
	// AuthPerMinute per client on sign-up and reset requests, RunsPerMinute
	// and TopUpsPerMinute per user, EmailsPerHour per user and address.
	AuthPerMinute, RunsPerMinute, TopUpsPerMinute, EmailsPerHour int
}

// Portal serves the /app pages.
type Portal struct {
	site *web.Server
	d    Deps
	o    Options
	log  *slog.Logger
	// currency is the deployment's currency (the wallet's), learned from
	// the first wallet read; pages show money in it.
	currency struct {
		sync.RWMutex
		code  string
		known bool
	}
}

// New parses the pages; cfg is the portal's web configuration (cookies,
// session key and lifetimes: ConfigFromEnv).
func New(cfg web.Config, o Options, d Deps) (*Portal, error) {
	if d.Identity == nil || d.Wallet == nil || d.Workflow == nil {
		return nil, errors.New("portal: the identity, wallet and workflow clients are required")
	}
	if o.PublicBaseURL != "" {
		if u, err := url.Parse(o.PublicBaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, errors.New("portal: PUBLIC_BASE_URL must be an absolute http(s) URL")
		}
	}
	o.PublicBaseURL = strings.TrimSuffix(o.PublicBaseURL, "/")
	pages, err := fs.Sub(templateFS, "templates")
	if err != nil {
		return nil, err
	}
	log := d.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Portal{d: d, o: o, log: log}
	p.currency.code = "usd"
	srv, err := web.New(web.Site{
		ID: "portal", Name: "Meterflow", DefaultPath: "/app",
		SessionCookie: SessionCookie, LoginCookie: FormCookie, Home: "your dashboard", Pages: pages,
		Funcs: template.FuncMap{
			"money": p.money, "signedMoney": p.signedMoney, "invalid": invalid,
			"webhooks": func() bool { return d.Webhooks != nil }, "exportRows": func() int { return csvexport.DefaultMaxRows },
		},
	}, cfg, web.Deps{Identity: d.Identity, Users: d.Users, Redis: d.Redis, Limiter: d.Limiter, Log: log, ClientIP: d.ClientIP})
	if err != nil {
		return nil, err
	}
	p.site = srv
	return p, nil
}

// ConfigFromEnv reads the portal's web configuration: COOKIE_SECURE
// (default true) and SESSION_ENCRYPTION_KEY, shared with the console, and
// APP_SESSION_TTL (8h), APP_IDLE_TIMEOUT (30m) and APP_LOGIN_PER_MINUTE
// (10 per client IP), through platform/envconfig.
func ConfigFromEnv() (web.Config, error) {
	return web.ConfigFromEnv(web.EnvNames{
		SessionTTL: "APP_SESSION_TTL", IdleTimeout: "APP_IDLE_TIMEOUT", LoginPerMinute: "APP_LOGIN_PER_MINUTE",
	})
}

// Register mounts the pages on r, normally app.Group("/app"): the shared
// parts and login, the public pages, then the signed-in pages, and the
// not-found page last.
func (p *Portal) Register(r fiber.Router) {
	p.site.Mount(r)
	r.Get("/signup", p.signupForm)
	r.Post("/signup", p.signup)
	r.Get("/forgot-password", p.forgotForm)
	r.Post("/forgot-password", p.forgot)
	r.Get("/verify-email", p.verifyForm)
	r.Post("/verify-email", p.verify)
	r.Get("/reset-password", p.resetForm)
	r.Post("/reset-password", p.reset)

	page := func(h func(*fiber.Ctx, *web.Session) error) fiber.Handler { return p.site.Page(p.withCurrency(h)) }
	r.Get("/", page(p.dashboard))
	r.Post("/resend-verification", page(p.resendVerification))
	r.Get("/topup", page(p.topUpForm))
	r.Post("/topup", page(p.topUp))
	r.Get("/topups/:id", page(p.topUpStatus))
	r.Get("/transactions", page(p.transactions))
	r.Get("/transactions.csv", page(p.transactionsCSV))
	r.Get("/runs", page(p.runs))
	r.Get("/runs.csv", page(p.runsCSV))
	r.Get("/runs/:id", page(p.run))
	r.Get("/workflows", page(p.workflows))
	r.Get("/workflows/:slug", page(p.runForm))
	r.Post("/workflows/:slug", page(p.startRun))
	r.Get("/keys", page(p.keys))
	r.Post("/keys", page(p.createKey))
	r.Get("/keys/:id/revoke", page(p.revokeConfirm))
	r.Post("/keys/:id/revoke", page(p.revokeKey))
	r.Get("/settings", page(p.settings))
	r.Post("/settings/low-balance", page(p.saveLowBalance))
	r.Post("/settings/auto-topup", page(p.saveAutoTopUp))
	r.Post("/settings/card", page(p.saveCard))
	r.Post("/settings/card/remove", page(p.removeCard))
	if p.d.Webhooks != nil {
		r.Get("/webhooks", page(p.webhooks))
		r.Post("/webhooks", page(p.createWebhook))
		r.Get("/webhooks/:id", page(p.webhook))
		r.Post("/webhooks/:id/test", page(p.testWebhook))
		r.Post("/webhooks/:id/enabled", page(p.toggleWebhook))
		r.Post("/webhooks/:id/rotate", page(p.rotateWebhookSecret))
		r.Get("/webhooks/:id/delete", page(p.deleteWebhookConfirm))
		r.Post("/webhooks/:id/delete", page(p.deleteWebhook))
		r.Post("/webhooks/:id/deliveries/:delivery/retry", page(p.retryDelivery))
	}
	r.Get("/account", page(p.account))
	r.Post("/account/password", page(p.changePassword))
	r.Post("/account/logout-all", page(p.logoutAll))
	r.Use(p.site.NotFound())
}

// render writes one of the portal's pages.
func (p *Portal) render(x *fiber.Ctx, s *web.Session, code int, name, title, nav string, data any) error {
	return p.site.Render(x, s, code, name, title, nav, data)
}

// call is the context of one page's service calls as the signed-in user.
func (p *Portal) call(x *fiber.Ctx, s *web.Session) (context.Context, context.CancelFunc) {
	return p.site.Call(x, s)
}

// url is the absolute URL of a portal path, for Stripe to send the user
// back to; "" when PUBLIC_BASE_URL is unknown (the wallet then uses its
// own configured return pages).
func (p *Portal) url(path string) string {
	if p.o.PublicBaseURL == "" {
		return ""
	}
	return p.o.PublicBaseURL + p.site.Base() + path
}

// limit spends one unit of a per-minute budget; the error is a 429 page
// or form message.
func (p *Portal) limit(ctx context.Context, class, key string, perMinute int) error {
	return p.limitPer(ctx, class, key, perMinute, time.Minute)
}

func (p *Portal) limitPer(ctx context.Context, class, key string, n int, period time.Duration) error {
	if n <= 0 {
		return nil
	}
	if d := p.site.Limiter().AllowPer(ctx, class, key, n, period); !d.Allowed {
		return tooMany(d.RetryAfter)
	}
	return nil
}

// ParsePages parses every page template now (they are parsed on the first
// page shown); tests call it so that a broken template fails them.
func (x *Portal) ParsePages() error { return x.site.ParsePages() }
