package drills

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	gateway "github.com/meterflow/meterflow/gateway/app"
	"github.com/meterflow/meterflow/platform/database/dbtest"
	"github.com/meterflow/meterflow/platform/envconfig"
	"github.com/meterflow/meterflow/platform/telemetry"
	identity "github.com/meterflow/meterflow/services/identity/app"
	identitymigrations "github.com/meterflow/meterflow/services/identity/migrations"
	walletmigrations "github.com/meterflow/meterflow/services/wallet/migrations"
	"github.com/meterflow/meterflow/services/wallet/stripemocktest"
	workflow "github.com/meterflow/meterflow/services/workflow/app"
	workflowmigrations "github.com/meterflow/meterflow/services/workflow/migrations"
)

// secret is the deployment's INTERNAL_AUTH_SECRET in the drills.
const secret = "drills-internal-auth-secret-0123456789abcdef"

// webhookSecret is the wallet's Stripe webhook secret in the drills.
const webhookSecret = "whsec_drills"

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
		if buildErr != nil {
			return
		}
		for _, svc := range []string{"wallet", "workflow"} {
			// The package paths resolve through the workspace from any module directory.
			cmd := exec.Command("go", "build", "-o", filepath.Join(buildDir, svc), "github.com/meterflow/meterflow/services/"+svc+"/cmd/"+svc)
			if out, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("go build %s: %v: %s", svc, err, out)
				return
			}
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

// proc is a service running as a real OS process that the drill may
// SIGKILL and start again with the same environment and port.
type proc struct {
	name, bin, addr string
	env             []string
	logs            *os.File

	mu    sync.Mutex
	cmd   *exec.Cmd
	done  chan struct{}
	kills int
}

// start runs the process and waits until it serves. It returns an error
// rather than failing the test: the drills call it from chaos goroutines.
func (p *proc) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	cmd := exec.Command(p.bin, "serve")
	cmd.Env = p.env
	cmd.Stdout, cmd.Stderr = p.logs, p.logs
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	p.cmd, p.done = cmd, done
	if err := waitServing(p.addr, 20*time.Second, done); err != nil {
		return fmt.Errorf("%s: %w (logs in %s)", p.name, err, p.logs.Name())
	}
	return nil
}

// restart starts the process again after a kill, reporting a failure to
// the test from any goroutine.
func (p *proc) restart(t testing.TB) {
	if err := p.start(); err != nil {
		t.Error(err)
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *proc) kill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
	p.cmd = nil
	p.kills++
}

// stop ends the process gracefully (SIGTERM), as at the end of a drill.
func (p *proc) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
	}
	p.cmd = nil
}

func waitServing(addr string, within time.Duration, exited <-chan struct{}) error {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	deadline := time.Now().Add(within)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
		cancel()
		if err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("exited before serving")
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not serving on %s after %s: %v", addr, within, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stack is the running product of one drill.
type stack struct {
	URL        string
	walletDB   string // direct (not proxied) URLs, for the checks
	workflowDB string
	identity   identity.Config
	gateway    *gateway.App
	wallet     *proc
	workflow   *proc
	proxies    map[string]*toxiproxy.Proxy
	client     *http.Client
}

// options change the stack's knobs for one drill.
type options struct {
	// callTimeout is the gateway's CallTimeout (default 5s).
	callTimeout time.Duration
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

func randomHex() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
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

func redisURL() string {
	if u := os.Getenv("TEST_REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

// startStack runs the product for one test: wallet and workflow as
// processes, identity and gateway in process, stripe-mock, and a toxiproxy
// proxy on every edge named above.
func startStack(t testing.TB, o options) *stack {
	t.Helper()
	if o.callTimeout == 0 {
		o.callTimeout = 5 * time.Second
	}
	bins := binaries(t)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var closers []func()
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	})
	log := logger()
	s := &stack{proxies: map[string]*toxiproxy.Proxy{}, client: &http.Client{Timeout: 30 * time.Second}}

	tp := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	proxy := func(name, upstream string) string {
		p := toxiproxy.NewProxy(tp, name, "127.0.0.1:0", upstream)
		if err := p.Start(); err != nil {
			t.Fatal(err)
		}
		s.proxies[name] = p
		closers = append(closers, p.Stop)
		return p.Listen
	}

	// identity, in process.
	idLis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, idURL := dbtest.New(t, identitymigrations.FS)
	s.identity = identity.Config{
		Common: envconfig.Common{Env: "development", InternalAuthSecret: []byte(secret), JWTIssuer: "meterflow-identity", JWTAudience: "meterflow-api", ShutdownGrace: 2 * time.Second}, DatabaseURL: idURL,
		AccessTokenTTL: time.Hour, RefreshTokenTTL: 720 * time.Hour,
		Argon2: identity.Argon2Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1},
	}
	ida, err := identity.New(ctx, s.identity, log)
	if err != nil {
		t.Fatal(err)
	}
	closers = append(closers, ida.Close)
	wg.Go(func() { _ = ida.Serve(ctx, idLis) })
	idAddr := idLis.Addr().String()

	stripeBase := stripemocktest.Start(t)
	_, s.walletDB = dbtest.New(t, walletmigrations.FS)
	_, s.workflowDB = dbtest.New(t, workflowmigrations.FS)
	if err := workflow.MigrateQueue(ctx, s.workflowDB, log); err != nil {
		t.Fatal(err)
	}
	pgHost := hostOf(t, s.walletDB)
	walletPG := proxy(edgeWalletPG, pgHost)
	workflowPG := proxy(edgeWorkflowPG, pgHost)
	walletAddr, workflowAddr := freeAddr(t), freeAddr(t)
	wfWallet := proxy(edgeWorkflowWallet, walletAddr)
	gwWallet := proxy(edgeGatewayWallet, walletAddr)
	gwWorkflow := proxy(edgeGatewayWF, workflowAddr)
	gwRedis := proxy(edgeGatewayRedis, hostOf(t, redisURL()))

	common := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"APP_ENV=development", "LOG_LEVEL=info", "INTERNAL_AUTH_SECRET=" + secret,
		"JWT_ISSUER=meterflow-identity", "JWT_AUDIENCE=meterflow-api",
		"IDENTITY_ADDR=" + idAddr, "METRICS_ADDR=", "SHUTDOWN_GRACE=2s",
	}
	logDir := t.TempDir()
	openLog := func(name string) *os.File {
		f, err := os.Create(filepath.Join(logDir, name+".log"))
		if err != nil {
			t.Fatal(err)
		}
		closers = append(closers, func() { _ = f.Close() })
		return f
	}
	s.wallet = &proc{name: "wallet", bin: filepath.Join(bins, "wallet"), addr: walletAddr, logs: openLog("wallet"),
		env: append(common[:len(common):len(common)],
			"GRPC_ADDR="+walletAddr, "DATABASE_URL="+withHost(t, s.walletDB, walletPG),
			"STRIPE_SECRET_KEY=sk_test_123", "STRIPE_WEBHOOK_SECRET="+webhookSecret, "STRIPE_API_BASE="+stripeBase,
			"HOLD_SWEEP_INTERVAL="+sweepInterval.String(), "HOLD_DEFAULT_TTL=15m",
		)}
	s.workflow = &proc{name: "workflow", bin: filepath.Join(bins, "workflow"), addr: workflowAddr, logs: openLog("workflow"),
		env: append(common[:len(common):len(common)],
			"GRPC_ADDR="+workflowAddr, "DATABASE_URL="+withHost(t, s.workflowDB, workflowPG),
			"WALLET_ADDR="+wfWallet, "WORKFLOW_SETTLE_GRACE="+settleGrace.String(),
			"WORKFLOW_SETTLE_INTERVAL="+settleInterval.String(), "WORKFLOW_ASYNC_START_WINDOW="+asyncWindow.String(),
			"WORKFLOW_WORKERS=8", "WORKFLOW_DEFAULT_FEE_CENTS=10",
			"WORKFLOW_ALLOW_PRIVATE=true", // the drills' n8n receivers listen on loopback
		)}
	for _, p := range []*proc{s.wallet, s.workflow} {
		closers = append(closers, p.stop) // also ends a process that never got ready
		if err := p.start(); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, p := range []*proc{s.wallet, s.workflow} {
				b, _ := os.ReadFile(p.logs.Name())
				t.Logf("%s logs (last 4 KiB):\n%s", p.name, tail(b, 4096))
			}
		}
	})

	gwLis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.URL = "http://" + gwLis.Addr().String()
	ru, err := url.Parse(redisURL())
	if err != nil {
		t.Fatal(err)
	}
	ru.Host = gwRedis
	gw, err := gateway.New(ctx, gateway.Config{
		Common: envconfig.Common{Env: "development", InternalAuthSecret: []byte(secret), JWTIssuer: "meterflow-identity", JWTAudience: "meterflow-api", ShutdownGrace: 2 * time.Second}, IdentityAddr: idAddr, WalletAddr: gwWallet, WorkflowAddr: gwWorkflow,
		RedisURL: ru.String(), RateLimitPrefix: "drills:" + randomHex() + ":",
		AuthPerMinute: 100000, RunsPerMinute: 100000, APIPerMinute: 100000,
		TokenCacheSize: 1000, CallTimeout: o.callTimeout, RunTimeout: 20 * time.Second,
		ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: 30 * time.Second,
	}, log)
	if err != nil {
		t.Fatal(err)
	}
	s.gateway = gw
	closers = append(closers, gw.Close)
	wg.Go(func() { _ = gw.Serve(ctx, gwLis) })
	s.waitReady(t)
	return s
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

func (s *stack) waitReady(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := s.client.Get(s.URL + "/readyz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the stack is not ready after 20s (last: %v)", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
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
	email := "ops-" + randomHex() + "@example.com"
	if _, err := identity.CreateAdmin(context.Background(), s.identity, email, "admin-password-1"); err != nil {
		t.Fatal(err)
	}
	return s.mustDo(t, 200, "POST", "/v1/auth/login", "", map[string]string{"email": email, "password": "admin-password-1"}, nil)["access_token"].(string)
}

// signup creates a user and returns its access token and id.
func (s *stack) signup(t testing.TB) (token, id string) {
	t.Helper()
	m := s.mustDo(t, 201, "POST", "/v1/auth/signup", "", map[string]string{"email": "u-" + randomHex() + "@example.com", "password": "password-1"}, nil)
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
