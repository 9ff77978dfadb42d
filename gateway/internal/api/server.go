// Package api is the gateway's HTTP surface: the routes of the public
// contract (shared/spec/api.md), their middleware, and the mapping of every
// error to a problem document.
package api

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/cors"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/meterflow/meterflow/gateway/internal/apikeyauth"
	"github.com/meterflow/meterflow/gateway/internal/clientip"
	"github.com/meterflow/meterflow/gateway/internal/ratelimit"
	"github.com/meterflow/meterflow/platform/callauth"
	identityv1 "github.com/meterflow/meterflow/proto/gen/meterflow/identity/v1"
	notifyv1 "github.com/meterflow/meterflow/proto/gen/meterflow/notify/v1"
	walletv1 "github.com/meterflow/meterflow/proto/gen/meterflow/wallet/v1"
	workflowv1 "github.com/meterflow/meterflow/proto/gen/meterflow/workflow/v1"
)

// BodyLimit is the largest request body accepted (413 above).
const BodyLimit = 1 << 20

// Limits are the per-minute request budgets of the rate-limit classes.
type Limits struct {
	// AuthPerMinute applies per client IP to /v1/auth/*.
	AuthPerMinute int
	// RunsPerMinute applies per user to POST /v1/workflows/{slug}/runs.
	RunsPerMinute int
	// APIPerMinute applies per user to every other authenticated route.
	APIPerMinute int
	// TopUpsPerMinute applies per user to POST /v1/wallet/topups, instead
	// of APIPerMinute: each top-up opens a Stripe Checkout Session, an
	// outgoing call to Stripe (with its own rate limits and our account's
	// standing at stake) that a script must not be able to multiply.
	TopUpsPerMinute int
	// EmailsPerHour limits the emails a request can cause: password-reset
	// requests per address (on top of AuthPerMinute per IP) and resent
	// verification links per user.
	EmailsPerHour int
}

// Deps is what the HTTP layer needs from the process.
type Deps struct {
	Identity identityv1.IdentityServiceClient
	Wallet   walletv1.WalletServiceClient
	Workflow workflowv1.WorkflowServiceClient
	// Webhooks is notify's WebhookService (users' webhook endpoints).
	Webhooks notifyv1.WebhookServiceClient
	Tokens   *callauth.CachingVerifier
	// APIKeys authenticates API keys; nil refuses every key.
	APIKeys  *apikeyauth.Authenticator
	Limiter  *ratelimit.Limiter
	ClientIP *clientip.Resolver
	Log      *slog.Logger
	Registry prometheus.Registerer
	Limits   Limits
	// RequireVerifiedEmail refuses top-ups and runs with 403
	// email_not_verified until the user's email is verified
	// (REQUIRE_VERIFIED_EMAIL).
	RequireVerifiedEmail bool

	// CallTimeout bounds ordinary service calls.
	CallTimeout time.Duration
	// RunTimeout bounds synchronous runs; the workflow service enforces the
	// workflow's own timeout, this is only the outer cap.
	RunTimeout time.Duration

	ReadTimeout, WriteTimeout, IdleTimeout time.Duration

	CORSOrigins []string
	// HSTSMaxAge in seconds; 0 sends no Strict-Transport-Security header.
	HSTSMaxAge int

	// Ready reports the dependencies for /readyz: HTTP status and JSON body.
	Ready func(ctx context.Context) (int, any)
	// OpenAPI returns the OpenAPI document served at /openapi.json; it is
	// called on each request of it (openapi.JSON builds it once, on first use).
	OpenAPI func() ([]byte, error)
	// CSVMaxRows caps the rows of one CSV export of an admin listing;
	// 0 means csvexport.DefaultMaxRows.
	CSVMaxRows int
}

// Server holds the HTTP handlers.
type Server struct {
	d   Deps
	app *fiber.App
	// routes maps each route's Fiber path to its label (OpenAPI style).
	routes  map[string]string
	metrics *httpMetrics
}

// New builds the Fiber app with every route of the contract.
func New(d Deps) (*Server, error) {
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.CallTimeout <= 0 {
		d.CallTimeout = 5 * time.Second
	}
	if d.RunTimeout <= 0 {
		d.RunTimeout = 310 * time.Second
	}
	s := &Server{d: d, routes: map[string]string{}}
	m, err := newHTTPMetrics(d.Registry)
	if err != nil {
		return nil, err
	}
	s.metrics = m
	s.app = fiber.New(fiber.Config{
		AppName:   "meterflow-gateway",
		BodyLimit: BodyLimit,
		// The whole request head must fit (fasthttp's default, 4 KiB, reset
		// the connection of a 5 KB query string): see requesthead.go.
		ReadBufferSize:        MaxHeadBytes,
		ReadTimeout:           d.ReadTimeout,
		WriteTimeout:          d.WriteTimeout,
		IdleTimeout:           d.IdleTimeout,
		DisableStartupMessage: true,
		ErrorHandler:          s.errorHandler,
		StrictRouting:         false,
		CaseSensitive:         true,
		// Fiber would add a Server header naming itself; say nothing.
		ServerHeader: "",
	})
	s.app.Use(s.baseHeaders, s.trace, s.observe, s.handleErrors, s.limitURI, s.recoverPanics, s.requireUTF8)
	if len(d.CORSOrigins) > 0 {
		s.app.Use(cors.New(cors.Config{
			AllowOrigins:  strings.Join(d.CORSOrigins, ","),
			AllowMethods:  "GET,POST,PATCH,DELETE,OPTIONS",
			AllowHeaders:  "Authorization,Content-Type,Idempotency-Key,X-Request-ID",
			ExposeHeaders: "X-Request-ID,RateLimit-Limit,RateLimit-Remaining,RateLimit-Reset,Retry-After",
			MaxAge:        600,
		}))
	}
	s.register()
	for _, r := range s.app.GetRoutes(true) {
		s.routes[r.Path] = OpenAPIPath(r.Path)
	}
	return s, nil
}

// App returns the Fiber app (tests call App().Test).
func (s *Server) App() *fiber.App { return s.app }

// Routes lists "METHOD /path" of every route, with OpenAPI-style {params};
// HEAD twins of GET routes are left out.
func (s *Server) Routes() []string {
	var out []string
	seen := map[string]bool{}
	for _, r := range s.app.GetRoutes(true) {
		if r.Method == http.MethodHead {
			continue
		}
		k := r.Method + " " + OpenAPIPath(r.Path)
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}

// OpenAPIPath turns Fiber's ":param" segments into OpenAPI's "{param}".
func OpenAPIPath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		if strings.HasPrefix(s, ":") {
			segs[i] = "{" + strings.TrimSuffix(strings.TrimPrefix(s, ":"), "?") + "}"
		}
	}
	return strings.Join(segs, "/")
}

func (s *Server) register() {
	a := s.app
	user := []fiber.Handler{s.requireUser, s.limitUser("api", s.d.Limits.APIPerMinute)}
	admin := []fiber.Handler{s.requireUser, s.requireAdmin, s.limitUser("api", s.d.Limits.APIPerMinute)}
	with := func(mw []fiber.Handler, h fiber.Handler) []fiber.Handler {
		return append(append([]fiber.Handler{}, mw...), h)
	}

	a.Get("/healthz", s.healthz)
	a.Get("/readyz", s.readyz)
	a.Get("/openapi.json", s.openapi)
	a.Get("/docs", s.docsIndex)
	a.Get("/docs/:asset", s.docsAsset)

	authLimit := s.limitIP(ratelimit.ClassAuth, s.d.Limits.AuthPerMinute)
	a.Post("/v1/auth/signup", authLimit, s.signup)
	a.Post("/v1/auth/login", authLimit, s.login)
	a.Post("/v1/auth/refresh", authLimit, s.refresh)
	a.Post("/v1/auth/logout", authLimit, s.logout)
	a.Post("/v1/auth/logout-all", authLimit, s.requireUser, s.logoutAll)
	a.Post("/v1/auth/verify-email", authLimit, s.verifyEmail)
	a.Post("/v1/auth/password-reset", authLimit, s.requestPasswordReset)
	a.Post("/v1/auth/password-reset/confirm", authLimit, s.confirmPasswordReset)
	a.Get("/v1/me", with(user, s.me)...)
	a.Post("/v1/me/verify-email", with(user, s.resendVerification)...)
	a.Post("/v1/me/password", with(user, s.changePassword)...)

	a.Get("/v1/wallet", with(user, s.getWallet)...)
	a.Get("/v1/wallet/transactions", with(user, s.listTransactions)...)
	a.Post("/v1/wallet/topups", s.requireUser, s.limitUser(ratelimit.ClassTopUps, s.d.Limits.TopUpsPerMinute), s.requireVerifiedEmail, s.createTopUp)
	a.Get("/v1/wallet/topups/:id", with(user, s.getTopUp)...)
	a.Get("/v1/wallet/settings", with(user, s.getWalletSettings)...)
	a.Patch("/v1/wallet/settings", with(user, s.updateWalletSettings)...)
	a.Post("/v1/wallet/payment-method", s.requireUser, s.limitUser(ratelimit.ClassTopUps, s.d.Limits.TopUpsPerMinute), s.requireVerifiedEmail, s.createPaymentMethod)
	a.Delete("/v1/wallet/payment-method", with(user, s.deletePaymentMethod)...)
	a.Post("/v1/webhooks/stripe", s.stripeWebhook)

	a.Post("/v1/api-keys", with(user, s.createAPIKey)...)
	a.Get("/v1/api-keys", with(user, s.listAPIKeys)...)
	a.Delete("/v1/api-keys/:id", with(user, s.revokeAPIKey)...)

	a.Post("/v1/webhook-endpoints", with(user, s.createWebhookEndpoint)...)
	a.Get("/v1/webhook-endpoints", with(user, s.listWebhookEndpoints)...)
	a.Patch("/v1/webhook-endpoints/:id", with(user, s.updateWebhookEndpoint)...)
	a.Delete("/v1/webhook-endpoints/:id", with(user, s.deleteWebhookEndpoint)...)
	a.Post("/v1/webhook-endpoints/:id/rotate-secret", with(user, s.rotateWebhookSecret)...)
	a.Post("/v1/webhook-endpoints/:id/test", with(user, s.testWebhookEndpoint)...)
	a.Get("/v1/webhook-endpoints/:id/deliveries", with(user, s.listWebhookDeliveries)...)
	a.Post("/v1/webhook-deliveries/:id/retry", with(user, s.retryWebhookDelivery)...)

	a.Get("/v1/workflows", with(user, s.listWorkflows)...)
	a.Post("/v1/workflows/:slug/runs", s.requireUser, s.limitUser(ratelimit.ClassRuns, s.d.Limits.RunsPerMinute), s.requireVerifiedEmail, s.startRun)
	a.Get("/v1/runs", with(user, s.listRuns)...)
	a.Get("/v1/runs/:id", with(user, s.getRun)...)
	// A workflow's verdict: its run's callback token authenticates it.
	a.Post("/v1/callbacks/runs/:id", s.runCallback)

	a.Get("/v1/admin/users", with(admin, s.adminListUsers)...)
	a.Get("/v1/admin/users/:id", with(admin, s.adminGetUser)...)
	a.Patch("/v1/admin/users/:id", with(admin, s.adminUpdateUser)...)
	a.Post("/v1/admin/users/:id/adjustments", with(admin, s.adminAdjust)...)
	a.Get("/v1/admin/transactions", with(admin, s.adminListTransactions)...)
	a.Get("/v1/admin/runs", with(admin, s.adminListRuns)...)
	a.Get("/v1/admin/audit", with(admin, s.adminListAudit)...)
	a.Get("/v1/admin/users/:id/wallet-automation", with(admin, s.adminGetAutomation)...)
	a.Get("/v1/admin/users/:id/webhook-endpoints", with(admin, s.adminListWebhookEndpoints)...)
	a.Get("/v1/admin/users/:id/webhook-deliveries", with(admin, s.adminListWebhookDeliveries)...)
	a.Get("/v1/admin/disputes", with(admin, s.adminListDisputes)...)
	a.Get("/v1/admin/debts", with(admin, s.adminListDebts)...)
	a.Get("/v1/admin/workflows", with(admin, s.adminListWorkflows)...)
	a.Post("/v1/admin/workflows", with(admin, s.adminCreateWorkflow)...)
	a.Patch("/v1/admin/workflows/:slug", with(admin, s.adminUpdateWorkflow)...)
}
