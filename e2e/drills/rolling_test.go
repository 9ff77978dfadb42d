//go:build drills

package drills

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	e2e "github.com/meterflow/meterflow/e2e/stack"
	"github.com/meterflow/meterflow/platform/envconfig"
	identity "github.com/meterflow/meterflow/services/identity/app"
	identitymigrations "github.com/meterflow/meterflow/services/identity/migrations"
	walletmigrations "github.com/meterflow/meterflow/services/wallet/migrations"
	"github.com/meterflow/meterflow/services/wallet/stripemocktest"
	workflowmigrations "github.com/meterflow/meterflow/services/workflow/migrations"
)

// Knobs of the rolling restart: the drain each process gets (as
// SHUTDOWN_GRACE does in the manifests, scaled down) and the pause between
// taking an instance out of the balancer and SIGTERM (the preStop sleep).
const (
	rollGrace   = 10 * time.Second
	rollPreStop = 300 * time.Millisecond
	rollFee     = 10
	rollFunds   = 1_000_000
)

// rollOrder is the order of a rollout: the callee before its callers.
var rollOrder = []string{"identity", "wallet", "workflow", "gateway"}

// rollStack is the product with every process a real binary behind a
// balancer, so that a process can be replaced by a new instance while the
// load goes on.
type rollStack struct {
	t      *testing.T
	bins   string
	logDir string
	env    map[string][]string
	lbs    map[string]*balancer
	cur    map[string]*e2e.Proc
	api    *stack // URL and client: the harness's request helpers
	dbs    map[string]string
}

// startRollStack starts one instance of each process, callees first.
func startRollStack(t *testing.T) *rollStack {
	t.Helper()
	s := &rollStack{t: t, bins: allBinaries(t), logDir: t.TempDir(), lbs: map[string]*balancer{}, cur: map[string]*e2e.Proc{}, dbs: map[string]string{}}
	s.dbs["identity"] = e2e.Database(t, identitymigrations.FS, nil)
	s.dbs["wallet"] = e2e.Database(t, walletmigrations.FS, nil)
	s.dbs["workflow"] = e2e.Database(t, workflowmigrations.FS, nil)
	keyFile := filepath.Join(t.TempDir(), "jwt.pem")
	if _, err := identity.GenerateKeyFile(keyFile); err != nil {
		t.Fatal(err)
	}
	for _, name := range rollOrder {
		s.lbs[name] = newBalancer(t)
	}
	common := append(e2e.CommonEnv(rollGrace), "ADMIN_ADDR=",
		"IDENTITY_ADDR="+s.lbs["identity"].addr(), "WALLET_ADDR="+s.lbs["wallet"].addr(), "WORKFLOW_ADDR="+s.lbs["workflow"].addr())
	with := func(more ...string) []string { return append(common[:len(common):len(common)], more...) }
	s.env = map[string][]string{
		"identity": with("DATABASE_URL="+s.dbs["identity"], "JWT_SIGNING_KEY_FILE="+keyFile,
			"ARGON2_MEMORY_KIB=64", "ARGON2_ITERATIONS=1", "ARGON2_PARALLELISM=1"),
		"wallet": with(append(e2e.WalletStripeEnv(stripemocktest.Start(t)), "DATABASE_URL="+s.dbs["wallet"], "HOLD_SWEEP_INTERVAL=1s")...),
		"workflow": with("DATABASE_URL="+s.dbs["workflow"], "WORKFLOW_ALLOW_PRIVATE=true", "WORKFLOW_SETTLE_GRACE=1s",
			"WORKFLOW_SETTLE_INTERVAL=1s", "WORKFLOW_WORKERS=8"),
		"gateway": with("REDIS_URL="+e2e.RedisURL(), "RATE_LIMIT_REDIS_PREFIX=drills:"+e2e.RandomHex()+":",
			"RATE_LIMIT_AUTH_PER_MINUTE=100000", "RATE_LIMIT_RUNS_PER_MINUTE=100000", "RATE_LIMIT_API_PER_MINUTE=100000",
			"RATE_LIMIT_TOPUPS_PER_MINUTE=100000"),
	}
	for _, name := range rollOrder {
		s.cur[name] = s.start(name)
		s.lbs[name].set(s.cur[name].Addr)
	}
	s.api = &stack{URL: "http://" + s.lbs["gateway"].addr(), client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 32}}}
	return s
}

// start runs a new instance of the process name and waits until it serves.
func (s *rollStack) start(name string) *e2e.Proc {
	s.t.Helper()
	addr := freeAddr(s.t)
	listen := "GRPC_ADDR="
	if name == "gateway" {
		listen = "HTTP_ADDR="
	}
	in := startInstance(s.t, name, filepath.Join(s.bins, name), addr, s.logDir, append(s.env[name], listen+addr))
	if err := in.WaitReady(context.Background()); err != nil {
		s.t.Fatalf("%s: %v", name, err)
	}
	return in
}

// roll replaces the instance of name as a rolling update does: a new one
// starts and becomes ready, the balancer sends new connections to it
// only, and after the preStop pause the old one gets SIGTERM and must
// drain and exit 0 within its grace.
func (s *rollStack) roll(name string) {
	s.t.Helper()
	next := s.start(name)
	s.lbs[name].set(next.Addr)
	time.Sleep(rollPreStop)
	if err := s.cur[name].Terminate(rollGrace + 5*time.Second); err != nil {
		s.t.Errorf("%s: the old instance did not stop cleanly on SIGTERM: %v", name, err)
	}
	s.cur[name] = next
}

// do sends one request through the gateway's balancer, with key as its
// Idempotency-Key when set.
func (s *rollStack) do(ctx context.Context, method, path, token string, body any, key string) response {
	var headers map[string]string
	if key != "" {
		headers = map[string]string{"Idempotency-Key": key}
	}
	return s.api.do(ctx, method, path, token, body, headers)
}

// fixableByRetry reports whether an answer is one a client retries with
// the same Idempotency-Key: the request did not arrive or its outcome is
// unknown (transport error, 503, 504), or it is still being processed
// (409 request_in_progress). Anything else is final.
func fixableByRetry(r response) bool {
	return r.err != nil || r.status == http.StatusServiceUnavailable || r.status == http.StatusGatewayTimeout ||
		(r.status == http.StatusConflict && r.json()["code"] == "request_in_progress")
}

// rollLoad is the client traffic during the rollout, and what it saw.
type rollLoad struct {
	s     *rollStack
	users []rollUser

	mu       sync.Mutex
	runs     map[string]string // idempotency key -> run id
	succeed  map[string]int    // user id -> runs that succeeded
	pending  []rollRun         // runs to follow to their end
	retried  int               // requests that needed a retry
	requests int
	failures []string
}

type rollUser struct{ id, token string }

type rollRun struct {
	user rollUser
	id   string
}

func (l *rollLoad) fail(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failures = append(l.failures, fmt.Sprintf(format, args...))
}

// send sends one request until its answer is final, with the same
// Idempotency-Key each time, for up to 30 s: what a client following the
// contract does. An answer retries do not fix is a failure of the drill.
func (l *rollLoad) send(ctx context.Context, what, method, path, token string, body any, key string, want ...int) (response, bool) {
	deadline := time.Now().Add(30 * time.Second)
	for attempt := 0; ; attempt++ {
		r := l.s.do(ctx, method, path, token, body, key)
		l.mu.Lock()
		l.requests++
		if attempt == 1 {
			l.retried++
		}
		l.mu.Unlock()
		for _, w := range want {
			if r.status == w {
				return r, true
			}
		}
		if ctx.Err() != nil {
			return r, false
		}
		if !fixableByRetry(r) {
			l.fail("%s: %d %v %s: not an error a retry fixes", what, r.status, r.err, r.body)
			return r, false
		}
		if time.Now().After(deadline) {
			l.fail("%s: still %d %v %s after 30 s of retries with the same key", what, r.status, r.err, r.body)
			return r, false
		}
		time.Sleep(time.Duration(50+rand.IntN(100)) * time.Millisecond)
	}
}

// run starts one paid run (sync, or async one time in four) with a fresh
// Idempotency-Key and records it; a retry must return the same run.
func (l *rollLoad) run(ctx context.Context, u rollUser) {
	key := "roll-" + uuid.NewString()
	path := "/v1/workflows/roll/runs"
	async := rand.IntN(4) == 0
	if async {
		path += "?async=true"
	}
	r, ok := l.send(ctx, "POST "+path, "POST", path, u.token, map[string]any{"input": map[string]any{"n": rand.IntN(1000)}}, key, 200, 202)
	if !ok {
		return
	}
	m := r.json()
	id, _ := m["id"].(string)
	l.mu.Lock()
	defer l.mu.Unlock()
	if prev, seen := l.runs[key]; seen && prev != id {
		l.failures = append(l.failures, fmt.Sprintf("key %s answered runs %s and %s", key, prev, id))
	}
	l.runs[key] = id
	if m["status"] == "succeeded" {
		l.succeed[u.id]++
		return
	}
	l.pending = append(l.pending, rollRun{user: u, id: id})
}

// read asks identity (GET /v1/me) or the wallet (GET /v1/wallet).
func (l *rollLoad) read(ctx context.Context, u rollUser) {
	path := "/v1/wallet"
	if rand.IntN(2) == 0 {
		path = "/v1/me"
	}
	l.send(ctx, "GET "+path, "GET", path, u.token, nil, "", 200)
}

// finish follows every run not final when answered (async, or a sync run
// whose capture was left to the settler) until it is; each must succeed.
func (l *rollLoad) finish(t *testing.T) {
	for _, r := range l.pending {
		deadline := time.Now().Add(60 * time.Second)
		for {
			resp, ok := l.send(context.Background(), "GET /v1/runs/{id}", "GET", "/v1/runs/"+r.id, r.user.token, nil, "", 200)
			if !ok {
				break
			}
			st := resp.json()["status"]
			if st == "succeeded" {
				l.succeed[r.user.id]++
				break
			}
			if st != "queued" && st != "running" {
				l.fail("run %s ended %v: %s", r.id, st, resp.body)
				break
			}
			if time.Now().After(deadline) {
				l.fail("run %s still %v after a minute", r.id, st)
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// TestRollingRestartDrill: a rolling restart of each process under load.
// Every process, one after the other and twice, is replaced the way a
// Kubernetes rolling update does it (a new instance becomes ready, the
// Service sends it the new connections, the old one gets SIGTERM after
// its preStop pause and drains) while clients sign in, read their wallet
// and start sync and async runs. No client sees an error that a retry with
// the same Idempotency-Key would not fix, every old instance exits 0
// within its grace, every run ends succeeded and charged once, and
// `wallet verify` passes.
func TestRollingRestartDrill(t *testing.T) {
	s := startRollStack(t)
	ctx := context.Background()
	n8n := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(time.Duration(50+rand.IntN(150)) * time.Millisecond) // runs are in flight during each stop
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	t.Cleanup(n8n.Close)

	// The admin (identity's create-admin code path), the workflow, users.
	adminEmail := "ops-" + e2e.RandomHex() + "@example.com"
	idCfg := identity.Config{
		Common:      envconfig.Common{Env: "development", InternalAuthSecret: []byte(secret), JWTIssuer: "meterflow-identity", JWTAudience: "meterflow-api"},
		DatabaseURL: s.dbs["identity"], AccessTokenTTL: time.Hour, RefreshTokenTTL: time.Hour,
		Argon2: identity.Argon2Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1},
	}
	if _, err := identity.CreateAdmin(ctx, idCfg, adminEmail, "admin-password-1"); err != nil {
		t.Fatal(err)
	}
	l := &rollLoad{s: s, runs: map[string]string{}, succeed: map[string]int{}}
	r, ok := l.send(ctx, "login", "POST", "/v1/auth/login", "", map[string]string{"email": adminEmail, "password": "admin-password-1"}, "", 200)
	if !ok {
		t.Fatalf("admin login: %d %s", r.status, r.body)
	}
	admin := r.json()["access_token"].(string)
	if r, ok := l.send(ctx, "create workflow", "POST", "/v1/admin/workflows", admin, map[string]any{
		"slug": "roll", "name": "Rolling", "webhook_url": n8n.URL + "/webhook/roll", "fee_cents": rollFee, "timeout_ms": 5000,
	}, "", 201); !ok {
		t.Fatalf("create workflow: %d %s", r.status, r.body)
	}
	for range 4 {
		r, ok := l.send(ctx, "signup", "POST", "/v1/auth/signup", "", map[string]string{"email": "roll-" + e2e.RandomHex() + "@example.com", "password": "password-1"}, "", 201)
		if !ok {
			t.Fatalf("signup: %d %s", r.status, r.body)
		}
		u := rollUser{id: r.json()["user"].(map[string]any)["id"].(string), token: r.json()["access_token"].(string)}
		if r, ok := l.send(ctx, "fund", "POST", "/v1/admin/users/"+u.id+"/adjustments", admin,
			map[string]any{"amount_cents": rollFunds, "reason": "rolling drill"}, "fund-"+u.id, 201); !ok {
			t.Fatalf("fund: %d %s", r.status, r.body)
		}
		l.users = append(l.users, u)
	}

	// The load, one worker per user, through the whole rollout. Stopping
	// it lets each request finish: a run cut off by the client would be
	// charged without the drill knowing.
	var stopLoad atomic.Bool
	var wg sync.WaitGroup
	for _, u := range l.users {
		wg.Go(func() {
			for !stopLoad.Load() {
				if rand.IntN(3) == 0 {
					l.read(ctx, u)
				} else {
					l.run(ctx, u)
				}
			}
		})
	}
	time.Sleep(time.Second)
	for round := range 2 {
		for _, name := range rollOrder {
			t.Logf("round %d: rolling %s", round+1, name)
			s.roll(name)
			time.Sleep(500 * time.Millisecond)
		}
	}
	time.Sleep(time.Second)
	stopLoad.Store(true)
	wg.Wait()
	l.finish(t)

	for _, f := range l.failures {
		t.Error(f)
	}
	t.Logf("%d requests, %d needed a retry; %d runs", l.requests, l.retried, len(l.runs))
	if len(l.runs) < 20 {
		t.Errorf("only %d runs during the rollout: the drill did not load the stack", len(l.runs))
	}
	// Each user paid exactly the fee of each run that succeeded.
	for _, u := range l.users {
		want := float64(rollFunds - rollFee*l.succeed[u.id])
		var last map[string]any
		eventually(t, 30*time.Second, "user "+u.id+"'s wallet settles", func() bool {
			r, ok := l.send(ctx, "GET /v1/wallet", "GET", "/v1/wallet", u.token, nil, "", 200)
			last = r.json()
			return ok && last["balance_cents"] == want && last["held_cents"] == float64(0)
		})
		if last["balance_cents"] != want {
			t.Errorf("user %s: wallet %v, want balance %v after %d runs", u.id, last, want, l.succeed[u.id])
		}
	}
	// The ledger, checked by the nightly command with the database alone.
	cmd := exec.Command(filepath.Join(s.bins, "wallet"), "verify")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "APP_ENV=production", "DATABASE_URL=" + s.dbs["wallet"]}
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "ok:") {
		t.Errorf("wallet verify: %v\n%s", err, out)
	}
}
