// Package stack is the one launcher of the whole product for tests and
// tools outside the production modules (ADR 0004): Start runs identity,
// wallet, workflow and notify from their exported app packages (the same
// app.New as their commands), each on its own fresh database and a
// loopback port, stripe-mock, an SMTP server inside the test (Mail) for
// notify, and the gateway in front, wired exactly as in production
// (real service tokens, RemoteKeySet against identity, Redis rate limits
// under a unique prefix). The package's own tests are the whole-stack
// tests of the public API; e2e/console, e2e/workflow, e2e/drills and the
// bench use it too.
package stack

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	gateway "github.com/meterflow/meterflow/gateway/app"
	"github.com/meterflow/meterflow/platform/envconfig"
	"github.com/meterflow/meterflow/platform/telemetry"
	identity "github.com/meterflow/meterflow/services/identity/app"
	notify "github.com/meterflow/meterflow/services/notify/app"
	"github.com/meterflow/meterflow/services/notify/smtptest"
	wallet "github.com/meterflow/meterflow/services/wallet/app"
	walletmigrations "github.com/meterflow/meterflow/services/wallet/migrations"
	"github.com/meterflow/meterflow/services/wallet/stripemocktest"
	workflow "github.com/meterflow/meterflow/services/workflow/app"
	workflowmigrations "github.com/meterflow/meterflow/services/workflow/migrations"
)

// Secret is the deployment's INTERNAL_AUTH_SECRET in these tests.
const Secret = "stacktest-internal-auth-secret-0123456789abcdef"

// WebhookSecret is the wallet's Stripe webhook secret in these tests.
const WebhookSecret = "whsec_stacktest"

// Options change the stack's knobs from their production defaults.
type Options struct {
	AuthPerMinute int // default 1000, so only tests about it hit it
	RunsPerMinute int // default 10, as in production
	APIPerMinute  int // default 600
	// TopUpsPerMinute is the per-user budget of top-up creation; default 5, as in production.
	TopUpsPerMinute int
	// RedisURL is the gateway's rate-limit store; default TEST_REDIS_URL or
	// the local Redis. A dead address runs the gateway on its fallback limiter.
	RedisURL string
	// RequireVerifiedEmail refuses top-ups and runs until the email is
	// verified (REQUIRE_VERIFIED_EMAIL, production's default).
	RequireVerifiedEmail bool
	// LogWriter, when set, receives every log line of the five processes as
	// JSON, at debug level, each tagged with "service" (the secrets test
	// reads them all).
	LogWriter io.Writer
}

// limits sets the per-minute budgets that o changes.
func (o Options) limits(c *gateway.Config) {
	for _, l := range []struct{ opt, cfg *int }{
		{&o.AuthPerMinute, &c.AuthPerMinute}, {&o.RunsPerMinute, &c.RunsPerMinute},
		{&o.APIPerMinute, &c.APIPerMinute}, {&o.TopUpsPerMinute, &c.TopUpsPerMinute},
	} {
		if *l.opt != 0 {
			*l.cfg = *l.opt
		}
	}
}

// Stack is a running product.
type Stack struct {
	// URL is the gateway's base URL.
	URL string
	// IdentityAddr, WalletAddr, WorkflowAddr and NotifyAddr are the
	// services' gRPC ports.
	IdentityAddr, WalletAddr, WorkflowAddr, NotifyAddr string
	// Mail is the SMTP server notify sends to: every email of the stack
	// arrives there (Mail.Wait, Mail.Messages).
	Mail *smtptest.Server
	// Notify is the running notify service.
	Notify *notify.App
	// Stripe is the stripe-mock the wallet talks to, behind the proxy that
	// records each Checkout Session (where it returns the user, its
	// metadata), as the paying user's browser would see it.
	Stripe *stripemocktest.Stripe
	// IdentityConfig is identity's config (for identity.CreateAdmin).
	IdentityConfig identity.Config
	// WalletDatabaseURL is the wallet's database (for wallet.Verify).
	WalletDatabaseURL string
	// WorkflowDatabaseURL is the workflow service's database (tests that
	// move runs back in time).
	WorkflowDatabaseURL string
	// Gateway, Identity, Wallet and Workflow are the running apps; each
	// Registry (the gateway's AdminHandler) is that process's /metrics.
	Gateway  *gateway.App
	Identity *identity.App
	Wallet   *wallet.App
	Workflow *workflow.App

	// The configurations and logs of the gateway and the workflow
	// service, for replicas (replicas.go).
	gatewayConfig  gateway.Config
	workflowConfig workflow.Config
	logFor         func(service string) *slog.Logger
}

func listen(t testing.TB) net.Listener {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return lis
}

func logger() *slog.Logger {
	if os.Getenv("STACKTEST_LOGS") != "" {
		return telemetry.NewLogger("stacktest", os.Stderr)
	}
	return slog.New(slog.DiscardHandler)
}

// RedisURL is the tests' Redis: TEST_REDIS_URL, or the local one.
func RedisURL() string {
	if u := os.Getenv("TEST_REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

// Common is what every process of the test deployment shares.
func Common() envconfig.Common {
	return envconfig.Common{Env: "development", InternalAuthSecret: []byte(Secret), JWTIssuer: "meterflow-identity", JWTAudience: "meterflow-api", ShutdownGrace: 2 * time.Second}
}

// IdentityConfig is identity's configuration on the database at dbURL.
func IdentityConfig(dbURL string) identity.Config {
	return identity.Config{
		Common: Common(), DatabaseURL: dbURL,
		AccessTokenTTL: 15 * time.Minute, RefreshTokenTTL: 720 * time.Hour,
		// Cheap hashes: the tests hash many passwords; production cost is the identity's benchmark's business.
		Argon2: identity.Argon2Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1},
	}
}

// GatewayConfig is the gateway's configuration in front of the services
// at the given addresses, with rate limits in Redis at redisURL under a
// fresh prefix, production's per-user budgets (Start's Options change
// them) and timeouts. NotifyAddr names no server: callers that run notify
// set it (the webhook routes answer 503 without one).
func GatewayConfig(identityAddr, walletAddr, workflowAddr, redisURL string) gateway.Config {
	return gateway.Config{
		Common: Common(), IdentityAddr: identityAddr, WalletAddr: walletAddr, WorkflowAddr: workflowAddr, NotifyAddr: "127.0.0.1:1",
		RedisURL: redisURL, RateLimitPrefix: "stacktest:" + RandomHex() + ":",
		AuthPerMinute: 1000, RunsPerMinute: 10, APIPerMinute: 600, TopUpsPerMinute: 5,
		TokenCacheSize: 1000, CallTimeout: 5 * time.Second, RunTimeout: 60 * time.Second,
		ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second, IdleTimeout: 30 * time.Second,
	}
}

// Start runs the stack until the test ends: identity, notify, the
// wallet, the workflow service and the gateway, callees first.
func Start(t testing.TB, o Options) *Stack {
	t.Helper()
	if o.RedisURL == "" {
		o.RedisURL = RedisURL()
	}
	l := NewLifetime(t)
	s := &Stack{logFor: o.logFor()}
	idLog := s.logFor("identity")
	ntLis := listen(t) // identity's outbox needs notify's address first
	s.NotifyAddr = ntLis.Addr().String()
	s.Identity, s.IdentityConfig, s.IdentityAddr = StartIdentity(t, l, idLog, func(c *identity.Config) { c.NotifyAddr = s.NotifyAddr })

	s.Notify = s.startNotify(t, l.Ctx, s.logFor("notify"))
	l.OnStop(s.Notify.Close)
	l.Serve(t, "notify", ntLis, s.Notify.Serve)
	// The wallet's return pages and the workflow service's callbacks need
	// the gateway's URL.
	gwLis := listen(t)
	s.URL = "http://" + gwLis.Addr().String()
	s.startWallet(t, l)
	s.startWorkflow(t, l)
	s.startGateway(t, l, gwLis, o)
	WaitReady(t, http.DefaultClient, s.URL, 15*time.Second)
	return s
}

// logFor returns the logger of each process: LogWriter's, or the tests' own.
func (o Options) logFor() func(service string) *slog.Logger {
	if o.LogWriter == nil {
		log := logger()
		return func(string) *slog.Logger { return log }
	}
	// One handler, so concurrent lines from all processes never interleave.
	base := slog.New(slog.NewJSONHandler(o.LogWriter, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return func(service string) *slog.Logger { return base.With("service", service) }
}

// startWallet runs the wallet on a fresh database against a stripe-mock
// of its own (s.Stripe), its outbox handing emails to the stack's notify,
// Checkout returning users to the portal's pages on the stack's gateway.
func (s *Stack) startWallet(t testing.TB, l *Lifetime) {
	t.Helper()
	log := s.logFor("wallet")
	lis := listen(t)
	s.WalletAddr = lis.Addr().String()
	s.WalletDatabaseURL = Database(t, walletmigrations.FS, log)
	s.Stripe = stripemocktest.StartStateful(t)
	wa, err := wallet.New(l.Ctx, wallet.Config{
		Common: Common(), DatabaseURL: s.WalletDatabaseURL, IdentityAddr: s.IdentityAddr,
		StripeSecretKey: StripeSecretKey, StripeWebhookSecret: WebhookSecret, StripeAPIBase: s.Stripe.URL,
		TopUpMinCents: 500, TopUpMaxCents: 100000, Currency: "usd", AdjustmentMaxCents: 1_000_000,
		CheckoutSuccessURL: "http://localhost/success", CheckoutCancelURL: "http://localhost/cancel",
		CheckoutAllowedOrigins: []string{s.URL}, // the portal's return pages on this gateway
		HoldDefaultTTL:         HoldDefaultTTL, IdempotencyTTL: 24 * time.Hour,
		// Its outbox hands its emails to the stack's notify.
		JobWorkers: 2, NotifyAddr: s.NotifyAddr, PublicBaseURL: "http://127.0.0.1:8080",
	}, log)
	if err != nil {
		t.Fatal(err)
	}
	s.Wallet = wa
	l.OnStop(wa.Close)
	l.Serve(t, "wallet", lis, wa.Serve)
}

// startWorkflow runs the workflow service on a fresh database, posting
// callback-mode runs' verdict URLs on the stack's gateway (s.URL).
func (s *Stack) startWorkflow(t testing.TB, l *Lifetime) {
	t.Helper()
	log := s.logFor("workflow")
	lis := listen(t)
	s.WorkflowAddr = lis.Addr().String()
	s.WorkflowDatabaseURL = Database(t, workflowmigrations.FS, log)
	s.workflowConfig = workflow.Config{
		Common: Common(), DatabaseURL: s.WorkflowDatabaseURL,
		IdentityAddr: s.IdentityAddr, WalletAddr: s.WalletAddr, NotifyAddr: s.NotifyAddr,
		SecretsKey: []byte("0123456789abcdef0123456789abcdef"), DefaultFeeCents: 10,
		SettleGrace: time.Minute, SettleInterval: time.Minute, AsyncStartWindow: time.Minute,
		Workers:       2,
		AllowPrivate:  true,  // the tests' n8n receivers listen on loopback
		PublicBaseURL: s.URL, // callback-mode runs post their verdicts to this gateway
	}
	wfa, err := workflow.New(l.Ctx, s.workflowConfig, log)
	if err != nil {
		t.Fatal(err)
	}
	s.Workflow = wfa
	l.OnStop(wfa.Close)
	l.Serve(t, "workflow", lis, wfa.Serve)
}

// startGateway runs the gateway on lis in front of the services, with the
// budgets o changes.
func (s *Stack) startGateway(t testing.TB, l *Lifetime, lis net.Listener, o Options) {
	t.Helper()
	s.gatewayConfig = GatewayConfig(s.IdentityAddr, s.WalletAddr, s.WorkflowAddr, o.RedisURL)
	s.gatewayConfig.NotifyAddr = s.NotifyAddr
	s.gatewayConfig.PublicBaseURL = s.URL
	s.gatewayConfig.RequireVerifiedEmail = o.RequireVerifiedEmail
	o.limits(&s.gatewayConfig)
	gw, err := gateway.New(l.Ctx, s.gatewayConfig, s.logFor("gateway"))
	if err != nil {
		t.Fatal(err)
	}
	s.Gateway = gw
	l.OnStop(gw.Close)
	l.Serve(t, "gateway", lis, gw.Serve)
}

// RandomHex is 16 random hex digits, for unique names in a shared
// Postgres or Redis.
func RandomHex() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Response is an HTTP answer with its body read.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into a map.
func (r Response) JSON(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v: %s", err, r.Body)
	}
	return m
}

// Request is one call to the gateway.
type Request struct {
	Method, Path string
	// Body is marshalled as JSON unless it is []byte (sent as is).
	Body    any
	Token   string
	Headers map[string]string
}

// Do sends r to the gateway.
func (s *Stack) Do(t testing.TB, r Request) Response {
	t.Helper()
	return s.DoAt(t, s.URL, r)
}

// DoAt sends r to the gateway at base (a replica's URL, see AddGateway).
func (s *Stack) DoAt(t testing.TB, base string, r Request) Response {
	t.Helper()
	var body io.Reader
	switch b := r.Body.(type) {
	case nil:
	case []byte:
		body = bytes.NewReader(b)
	case string:
		body = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		body = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(r.Method, base+r.Path, body)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if r.Token != "" {
		req.Header.Set("Authorization", "Bearer "+r.Token)
	}
	for k, v := range r.Headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: raw}
}

// Signup creates a user and returns its access token, refresh token and id.
func (s *Stack) Signup(t testing.TB, email, password string) (access, refresh, userID string) {
	t.Helper()
	r := s.Do(t, Request{Method: "POST", Path: "/v1/auth/signup", Body: map[string]string{"email": email, "password": password}})
	if r.Status != http.StatusCreated {
		t.Fatalf("signup %s: %d %s", email, r.Status, r.Body)
	}
	m := r.JSON(t)
	return m["access_token"].(string), m["refresh_token"].(string), m["user"].(map[string]any)["id"].(string)
}

// Login returns a fresh access token.
func (s *Stack) Login(t testing.TB, email, password string) string {
	t.Helper()
	r := s.Do(t, Request{Method: "POST", Path: "/v1/auth/login", Body: map[string]string{"email": email, "password": password}})
	if r.Status != http.StatusOK {
		t.Fatalf("login %s: %d %s", email, r.Status, r.Body)
	}
	return r.JSON(t)["access_token"].(string)
}

// Admin creates an admin with the identity CLI's code path and logs in.
func (s *Stack) Admin(t testing.TB) string {
	t.Helper()
	email := "ops-" + RandomHex() + "@example.com"
	if _, err := identity.CreateAdmin(context.Background(), s.IdentityConfig, email, "admin-password-1"); err != nil {
		t.Fatal(err)
	}
	return s.Login(t, email, "admin-password-1")
}
