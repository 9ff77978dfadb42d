package drills

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	e2e "github.com/meterflow/meterflow/e2e/stack"
	gateway "github.com/meterflow/meterflow/gateway/app"
	"github.com/meterflow/meterflow/platform/telemetry"
	identity "github.com/meterflow/meterflow/services/identity/app"
	walletmigrations "github.com/meterflow/meterflow/services/wallet/migrations"
	"github.com/meterflow/meterflow/services/wallet/stripemocktest"
	workflowmigrations "github.com/meterflow/meterflow/services/workflow/migrations"
)

// secret and webhookSecret are the deployment's INTERNAL_AUTH_SECRET and
// the wallet's Stripe webhook secret, as in every e2e test.
const (
	secret        = e2e.Secret
	webhookSecret = e2e.WebhookSecret
)

// Settle knobs of the processes: short, so a drill sees every run settled
// within seconds of its deadline.
const (
	settleGrace    = time.Second
	settleInterval = time.Second
	asyncWindow    = 4 * time.Second
	sweepInterval  = time.Second
)

// Proxy names: one toxiproxy proxy per edge of the system.
const (
	edgeWalletPG       = "wallet->postgres"
	edgeWorkflowPG     = "workflow->postgres"
	edgeWorkflowWallet = "workflow->wallet"
	edgeGatewayWallet  = "gateway->wallet"
	edgeGatewayWF      = "gateway->workflow"
	edgeGatewayRedis   = "gateway->redis"
)

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

// binaries builds the wallet and workflow commands once per test binary
// into a directory removed by TestMain.
func binaries(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "meterflow-drills-bin-")
		if buildErr == nil {
			buildErr = e2e.Build(buildDir, "wallet", "workflow")
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// restart starts a killed process again with the same environment and
// port, reporting a failure to the test from any goroutine.
func restart(t testing.TB, p *e2e.Proc) {
	if err := p.Start(context.Background()); err != nil {
		t.Error(err)
	}
}

// stack is the running product of one drill.
type stack struct {
	URL        string
	walletDB   string // direct (not proxied) URLs, for the checks
	workflowDB string
	identity   identity.Config
	gateway    *gateway.App
	wallet     *e2e.Proc
	workflow   *e2e.Proc
	proxies    map[string]*toxiproxy.Proxy
	client     *http.Client
}

// options change the stack's knobs for one drill.
type options struct {
	// callTimeout is the gateway's CallTimeout (default 5s).
	callTimeout time.Duration
	// stripeBase is the wallet's STRIPE_API_BASE (default: a stripe-mock
	// of its own); walletEnv adds to the wallet's environment, and
	// workflowEnv to the workflow service's.
	stripeBase  string
	walletEnv   []string
	workflowEnv []string
}

func freeAddr(t testing.TB) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	_ = lis.Close()
	return addr
}

func logger() *slog.Logger {
	if os.Getenv("DRILLS_LOGS") != "" {
		return telemetry.NewLogger("drills", os.Stderr)
	}
	return slog.New(slog.DiscardHandler)
}

// withHost replaces the host:port of a database URL.
func withHost(t testing.TB, dbURL, hostport string) string {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = hostport
	return u.String()
}

func hostOf(t testing.TB, rawURL string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

// startStack runs the product for one test: wallet and workflow as
// processes, identity and gateway in process (e2e/stack's), stripe-mock,
// and a toxiproxy proxy on every edge named above.
func startStack(t testing.TB, o options) *stack {
	t.Helper()
	if o.callTimeout == 0 {
		o.callTimeout = 5 * time.Second
	}
	bins := binaries(t)
	l := e2e.NewLifetime(t)
	log := logger()
	s := &stack{proxies: map[string]*toxiproxy.Proxy{}, client: &http.Client{Timeout: 30 * time.Second}}
	tp := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	proxy := func(name, upstream string) string {
		p := toxiproxy.NewProxy(tp, name, "127.0.0.1:0", upstream)
		if err := p.Start(); err != nil {
			t.Fatal(err)
		}
		s.proxies[name] = p
		l.OnStop(p.Stop)
		return p.Listen
	}
	var idAddr string
	_, s.identity, idAddr = e2e.StartIdentity(t, l, log, func(c *identity.Config) { c.AccessTokenTTL = time.Hour })
	s.startServices(t, l, bins, idAddr, o, proxy)
	s.startGateway(t, l, idAddr, o, proxy)
	s.waitReady(t)
	return s
}

// startServices runs the wallet and the workflow service as processes of
// bins on fresh databases, each reaching Postgres, and workflow the
// wallet, through its edge's proxy.
func (s *stack) startServices(t testing.TB, l *e2e.Lifetime, bins, idAddr string, o options, proxy func(name, upstream string) string) {
	t.Helper()
	stripeBase := o.stripeBase
	if stripeBase == "" {
		stripeBase = stripemocktest.Start(t)
	}
	s.walletDB = e2e.Database(t, walletmigrations.FS, logger())
	s.workflowDB = e2e.Database(t, workflowmigrations.FS, logger())
	pgHost := hostOf(t, s.walletDB)
	walletPG := proxy(edgeWalletPG, pgHost)
	workflowPG := proxy(edgeWorkflowPG, pgHost)
	walletAddr, workflowAddr := freeAddr(t), freeAddr(t)
	wfWallet := proxy(edgeWorkflowWallet, walletAddr)

	common := append(e2e.CommonEnv(2*time.Second), "IDENTITY_ADDR="+idAddr)
	with := func(more ...string) []string { return append(common[:len(common):len(common)], more...) }
	logDir := t.TempDir()
	newProc := func(name, addr string, env []string) *e2e.Proc {
		return &e2e.Proc{Name: name, Addr: addr, Bin: filepath.Join(bins, name), Env: env,
			LogPath: filepath.Join(logDir, name+".log"), Ready: e2e.GRPCServing(addr)}
	}
	s.wallet = newProc("wallet", walletAddr, append(with(
		append(e2e.WalletStripeEnv(stripeBase),
			"GRPC_ADDR="+walletAddr, "DATABASE_URL="+withHost(t, s.walletDB, walletPG),
			"HOLD_SWEEP_INTERVAL="+sweepInterval.String())...,
	), o.walletEnv...))
	s.workflow = newProc("workflow", workflowAddr, append(with(
		"GRPC_ADDR="+workflowAddr, "DATABASE_URL="+withHost(t, s.workflowDB, workflowPG),
		"WALLET_ADDR="+wfWallet, "WORKFLOW_SETTLE_GRACE="+settleGrace.String(),
		"WORKFLOW_SETTLE_INTERVAL="+settleInterval.String(), "WORKFLOW_ASYNC_START_WINDOW="+asyncWindow.String(),
		"WORKFLOW_WORKERS=8", "WORKFLOW_DEFAULT_FEE_CENTS=10",
		"WORKFLOW_ALLOW_PRIVATE=true", // the drills' n8n receivers listen on loopback
	), o.workflowEnv...))
	for _, p := range []*e2e.Proc{s.wallet, s.workflow} {
		// Also ends a process that never got ready.
		l.OnStop(func() { _ = p.Terminate(10 * time.Second) })
		if err := p.Start(l.Ctx); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, p := range []*e2e.Proc{s.wallet, s.workflow} {
				t.Logf("%s logs (last 4 KiB):\n%s", p.Name, e2e.Tail(p.LogPath, 4096))
			}
		}
	})
}

// startGateway runs the gateway in process, reaching the wallet, the
// workflow service and Redis through their edges' proxies, with budgets
// no drill reaches.
func (s *stack) startGateway(t testing.TB, l *e2e.Lifetime, idAddr string, o options, proxy func(name, upstream string) string) {
	t.Helper()
	gwWallet := proxy(edgeGatewayWallet, s.wallet.Addr)
	gwWorkflow := proxy(edgeGatewayWF, s.workflow.Addr)
	ru, err := url.Parse(e2e.RedisURL())
	if err != nil {
		t.Fatal(err)
	}
	ru.Host = proxy(edgeGatewayRedis, ru.Host)
	gwLis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.URL = "http://" + gwLis.Addr().String()
	gwCfg := e2e.GatewayConfig(idAddr, gwWallet, gwWorkflow, ru.String())
	gwCfg.RateLimitPrefix = "drills:" + e2e.RandomHex() + ":"
	gwCfg.AuthPerMinute, gwCfg.RunsPerMinute, gwCfg.APIPerMinute = 100000, 100000, 100000
	gwCfg.TopUpsPerMinute = 0 // unlimited: the bank test tops up far more than 5 a minute
	gwCfg.CallTimeout, gwCfg.RunTimeout, gwCfg.WriteTimeout = o.callTimeout, 20*time.Second, 30*time.Second
	gw, err := gateway.New(l.Ctx, gwCfg, logger())
	if err != nil {
		t.Fatal(err)
	}
	s.gateway = gw
	l.OnStop(gw.Close)
	l.Go(func(ctx context.Context) { _ = gw.Serve(ctx, gwLis) })
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// waitReady waits for the gateway to be ready (and the services behind it).
func (s *stack) waitReady(t testing.TB) {
	t.Helper()
	e2e.WaitReady(t, s.client, s.URL, 20*time.Second)
}

// toxic adds a toxic to an edge and returns a function removing it.
func (s *stack) toxic(t testing.TB, edge, name, typ, stream string, attrs map[string]any) func() {
	t.Helper()
	p := s.proxies[edge]
	body, _ := json.Marshal(map[string]any{"name": name, "type": typ, "stream": stream, "toxicity": 1.0, "attributes": attrs})
	if _, err := p.Toxics.AddToxicJson(bytes.NewReader(body)); err != nil {
		// Errorf, not Fatalf: the drills add toxics from chaos goroutines.
		t.Errorf("toxic %s on %s: %v", name, edge, err)
		return func() {}
	}
	return func() { _ = p.Toxics.RemoveToxic(context.Background(), name) }
}

// cut disables an edge (listener closed, every connection dropped) and
// returns a function restoring it.
func (s *stack) cut(t testing.TB, edge string) func() {
	t.Helper()
	p := s.proxies[edge]
	p.Stop()
	return func() {
		if err := p.Start(); err != nil {
			t.Errorf("restore %s: %v", edge, err)
		}
	}
}

// response is an HTTP answer with its body read; err is a transport error
// (timeout, refused) for which status is 0.
type response struct {
	status int
	header http.Header
	body   []byte
	err    error
}

func (r response) json() map[string]any {
	var m map[string]any
	_ = json.Unmarshal(r.body, &m)
	return m
}

// do sends one request; body is marshalled as JSON unless it is []byte.
func (s *stack) do(ctx context.Context, method, path, token string, body any, headers map[string]string) response {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, _ := json.Marshal(b)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.URL+path, rd)
	if err != nil {
		return response{err: err}
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return response{err: err}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: raw, err: err}
}

// mustDo is do for set-up steps that must answer want.
func (s *stack) mustDo(t testing.TB, want int, method, path, token string, body any, headers map[string]string) map[string]any {
	t.Helper()
	r := s.do(context.Background(), method, path, token, body, headers)
	if r.err != nil || r.status != want {
		t.Fatalf("%s %s: %d %v %s", method, path, r.status, r.err, r.body)
	}
	return r.json()
}

// admin creates an admin through identity's CLI code path and logs in.
func (s *stack) admin(t testing.TB) string {
	t.Helper()
	email := "ops-" + e2e.RandomHex() + "@example.com"
	if _, err := identity.CreateAdmin(context.Background(), s.identity, email, "admin-password-1"); err != nil {
		t.Fatal(err)
	}
	return s.mustDo(t, 200, "POST", "/v1/auth/login", "", map[string]string{"email": email, "password": "admin-password-1"}, nil)["access_token"].(string)
}

// signup creates a user and returns its access token and id.
func (s *stack) signup(t testing.TB) (token, id string) {
	t.Helper()
	m := s.mustDo(t, 201, "POST", "/v1/auth/signup", "", map[string]string{"email": "u-" + e2e.RandomHex() + "@example.com", "password": "password-1"}, nil)
	return m["access_token"].(string), m["user"].(map[string]any)["id"].(string)
}

// isProblem reports whether r is an RFC 9457 problem document.
func isProblem(r response) bool {
	if !strings.HasPrefix(r.header.Get("Content-Type"), "application/problem+json") {
		return false
	}
	m := r.json()
	_, ok := m["code"]
	return ok && m["status"] != nil
}
