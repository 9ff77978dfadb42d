package workflow_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/meterflow/meterflow/platform/callauth"
	"github.com/meterflow/meterflow/platform/callauth/authtest"
	"github.com/meterflow/meterflow/platform/database/dbtest"
	"github.com/meterflow/meterflow/platform/grpcservice"
	"github.com/meterflow/meterflow/platform/rpcerr"
	walletv1 "github.com/meterflow/meterflow/proto/gen/meterflow/wallet/v1"
	workflowv1 "github.com/meterflow/meterflow/proto/gen/meterflow/workflow/v1"
	walletapp "github.com/meterflow/meterflow/services/wallet/app"
	walletmigrations "github.com/meterflow/meterflow/services/wallet/migrations"
	"github.com/meterflow/meterflow/services/workflow/app"
	"github.com/meterflow/meterflow/services/workflow/migrations"
)

// TestMain runs the package in local development: the harness takes the
// wallet's and the workflow's development defaults from ConfigFromEnv
// (stripe-mock's key, the development secrets), which production refuses.
func TestMain(m *testing.M) {
	_ = os.Setenv("APP_ENV", "development")
	os.Exit(m.Run())
}

// syncBuffer is a log sink that tests can read while the services write.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// harness is a real wallet and a real workflow service, in process, on
// loopback ports, called as the gateway calls them.
type harness struct {
	keys      *authtest.Keys
	wf        workflowv1.WorkflowServiceClient
	wallet    walletv1.WalletServiceClient
	walletApp *walletapp.App
	app       *app.App
	logs      *syncBuffer
	adminCtx  context.Context
	dbURL     string
	walletAdr string
	// cfg is the workflow service's configuration (replica starts another
	// process with it).
	cfg app.Config
}

// startWallet runs the real wallet service in process and returns it and its address.
func startWallet(t testing.TB, keys *authtest.Keys, logs io.Writer) (*walletapp.App, string) {
	t.Helper()
	_, url := dbtest.New(t, walletmigrations.FS)
	if err := walletapp.MigrateQueue(context.Background(), url, nil); err != nil {
		t.Fatal(err)
	}
	cfg, err := walletapp.ConfigFromEnv()
	if err != nil {
		t.Fatalf("wallet config: %v", err)
	}
	cfg.DatabaseURL = url
	cfg.Keys = keys
	cfg.InternalAuthSecret = []byte(authtest.Secret)
	cfg.MetricsAddr = ""
	cfg.HoldSweepInterval = 0
	a, err := walletapp.New(context.Background(), cfg, slog.New(slog.NewJSONHandler(logs, nil)))
	if err != nil {
		t.Fatalf("wallet: %v", err)
	}
	return a, serve(t, a.Serve, a.Close)
}

// serve runs a Serve function on a fresh loopback listener until cleanup
// and returns the listener's address.
func serve(t testing.TB, run func(context.Context, net.Listener) error, closeFn func()) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, lis) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		closeFn()
	})
	return lis.Addr().String()
}

func setup(t testing.TB, mod ...func(*app.Config)) *harness {
	t.Helper()
	h := &harness{keys: authtest.NewKeys(t), logs: &syncBuffer{}}
	h.walletApp, h.walletAdr = startWallet(t, h.keys, h.logs)

	_, url := dbtest.New(t, migrations.FS)
	if err := app.MigrateQueue(context.Background(), url, nil); err != nil {
		t.Fatal(err)
	}
	h.dbURL = url
	cfg, err := app.ConfigFromEnv()
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	cfg.DatabaseURL = url
	cfg.WalletAddr = h.walletAdr
	cfg.Keys = h.keys
	cfg.InternalAuthSecret = []byte(authtest.Secret)
	cfg.MetricsAddr = ""
	cfg.SettleGrace = time.Second
	cfg.SettleInterval = 200 * time.Millisecond
	cfg.ShutdownGrace = 5 * time.Second
	cfg.AllowPrivate = true // the n8n receivers listen on loopback
	for _, m := range mod {
		m(&cfg)
	}
	h.cfg = cfg
	h.app, err = app.New(context.Background(), cfg, slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatalf("workflow: %v", err)
	}
	wfAddr := serve(t, h.app.Serve, h.app.Close)

	h.wf = workflowv1.NewWorkflowServiceClient(dial(t, wfAddr, "workflow"))
	h.wallet = walletv1.NewWalletServiceClient(dial(t, h.walletAdr, "wallet"))
	h.adminCtx = callauth.WithUserToken(context.Background(), h.keys.AccessToken(t, uuid.NewString(), true))
	return h
}

// dial connects as the gateway does.
func dial(t testing.TB, addr, target string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpcservice.Dial(addr, authtest.Minter(t, "gateway").Credentials(target))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// user returns a new user's id and a context carrying the user's token.
func (h *harness) user(t testing.TB) (string, context.Context) {
	id := uuid.NewString()
	return id, callauth.WithUserToken(context.Background(), h.keys.AccessToken(t, id, false))
}

// fund credits a user's wallet through the real admin path.
func (h *harness) fund(t testing.TB, userID string, cents int64) {
	t.Helper()
	_, err := h.wallet.AdminAdjustBalance(h.adminCtx, &walletv1.AdminAdjustBalanceRequest{
		UserId: userID, AmountCents: cents, Reason: "test funds", IdempotencyKey: randomKey(),
	})
	if err != nil {
		t.Fatalf("fund: %v", err)
	}
}

func (h *harness) walletOf(t testing.TB, ctx context.Context) *walletv1.Wallet {
	t.Helper()
	w, err := h.wallet.GetWallet(ctx, &walletv1.GetWalletRequest{})
	if err != nil {
		t.Fatalf("get wallet: %v", err)
	}
	return w.GetWallet()
}

func (h *harness) feeRows(t testing.TB, ctx context.Context) []*walletv1.Transaction {
	t.Helper()
	res, err := h.wallet.ListTransactions(ctx, &walletv1.ListTransactionsRequest{Kind: "fee", Limit: 200})
	if err != nil {
		t.Fatalf("list transactions: %v", err)
	}
	return res.GetTransactions()
}

// checkLedger asserts the wallet's ledger invariant: every balance equals
// the sum of its rows and holds match.
func (h *harness) checkLedger(t testing.TB) {
	t.Helper()
	mismatches, err := h.walletApp.Wallet.Verify(context.Background())
	if err != nil {
		t.Fatalf("verify ledger: %v", err)
	}
	if len(mismatches) > 0 {
		t.Fatalf("ledger mismatches: %+v", mismatches)
	}
}

type wfOpts struct {
	fee, timeoutMS        int64
	headerName, headerVal string
}

func (h *harness) createWorkflow(t testing.TB, slug, url string, o wfOpts) *workflowv1.AdminWorkflow {
	t.Helper()
	req := &workflowv1.AdminCreateWorkflowRequest{Slug: slug, Name: "Workflow " + slug, WebhookUrl: url,
		AuthHeaderName: o.headerName, AuthHeaderValue: o.headerVal}
	if o.fee != 0 {
		req.FeeCents = &o.fee
	}
	if o.timeoutMS != 0 {
		req.TimeoutMs = &o.timeoutMS
	}
	res, err := h.wf.AdminCreateWorkflow(h.adminCtx, req)
	if err != nil {
		t.Fatalf("create workflow: %v", err)
	}
	return res.GetWorkflow()
}

func randomKey() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// receiver is a local HTTP server that behaves like an n8n webhook.
type receiver struct {
	*httptest.Server
	hits    atomic.Int32
	mu      sync.Mutex
	headers []http.Header
}

func newReceiver(t testing.TB, h http.HandlerFunc) *receiver {
	t.Helper()
	r := &receiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.hits.Add(1)
		r.mu.Lock()
		r.headers = append(r.headers, req.Header.Clone())
		r.mu.Unlock()
		h(w, req)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) lastHeader() http.Header {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.headers) == 0 {
		return nil
	}
	return r.headers[len(r.headers)-1]
}

// answerJSON answers like n8n's "When Last Node Finishes": the last node's item.
func answerJSON(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_, _ = w.Write([]byte(`{"echo":` + string(body) + `}`))
}

func wantCode(t testing.TB, err error, code codes.Code, reason string) {
	t.Helper()
	if status.Code(err) != code || rpcerr.Reason(err) != reason {
		t.Fatalf("err = %v (reason %q), want %v %q", err, rpcerr.Reason(err), code, reason)
	}
}

func startRun(ctx context.Context, h *harness, slug, input, key string, async bool) (*workflowv1.Run, error) {
	res, err := h.wf.StartRun(ctx, &workflowv1.StartRunRequest{Workflow: slug, InputJson: []byte(input), IdempotencyKey: key, Async: async})
	if err != nil {
		return nil, err
	}
	return res.GetRun(), nil
}

// waitRun polls GetRun until cond holds or the deadline passes.
func waitRun(t testing.TB, ctx context.Context, h *harness, id string, cond func(*workflowv1.Run) bool) *workflowv1.Run {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := h.wf.GetRun(ctx, &workflowv1.GetRunRequest{Id: id})
		if err == nil && cond(res.GetRun()) {
			return res.GetRun()
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %s never reached the expected state: %v %v", id, res.GetRun(), err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
