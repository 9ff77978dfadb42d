package workflow_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/meterflow/meterflow/platform/callauth"
	"github.com/meterflow/meterflow/platform/callauth/authtest"
	"github.com/meterflow/meterflow/platform/database/dbtest"
	walletv1 "github.com/meterflow/meterflow/proto/gen/meterflow/wallet/v1"
	workflowv1 "github.com/meterflow/meterflow/proto/gen/meterflow/workflow/v1"
	"github.com/meterflow/meterflow/services/workflow/app"
	"github.com/meterflow/meterflow/services/workflow/migrations"
)

// TestShutdownStopsTheQueueWhileGRPCDrains: at SIGTERM the job workers
// stop taking jobs and finish the running one while gRPC drains a sync
// run, side by side: the queue has stopped before the sync run is done
// (regression: the queue was stopped only after gRPC had drained, so a
// pod needed two SHUTDOWN_GRACE periods and kept taking jobs meanwhile).
// Both runs in flight finish and are charged once.
func TestShutdownStopsTheQueueWhileGRPCDrains(t *testing.T) {
	t.Parallel()
	// One replica, which the test stops: the setup harness's pieces
	// without its always-running workflow app.
	h := &harness{keys: authtest.NewKeys(t), logs: &syncBuffer{}}
	h.walletApp, h.walletAdr = startWallet(t, h.keys, h.logs)
	_, h.dbURL = dbtest.New(t, migrations.FS)
	if err := app.MigrateQueue(context.Background(), h.dbURL, nil); err != nil {
		t.Fatal(err)
	}
	cfg, err := app.ConfigFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	cfg.DatabaseURL, cfg.WalletAddr, cfg.Keys = h.dbURL, h.walletAdr, h.keys
	cfg.InternalAuthSecret = []byte(authtest.Secret)
	cfg.MetricsAddr, cfg.AllowPrivate, cfg.ShutdownGrace = "", true, time.Minute
	a, err := app.New(context.Background(), cfg, slog.New(slog.NewJSONHandler(h.logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	h.app = a
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveCtx, sigterm := context.WithCancel(context.Background())
	defer sigterm()
	served := make(chan error, 1)
	go func() { served <- a.Serve(serveCtx, lis) }()
	h.wf = workflowv1.NewWorkflowServiceClient(dial(t, lis.Addr().String(), "workflow"))
	h.wallet = walletv1.NewWalletServiceClient(dial(t, h.walletAdr, "wallet"))
	h.adminCtx = callauth.WithUserToken(context.Background(), h.keys.AccessToken(t, uuid.NewString(), true))

	releaseSync, releaseAsync := make(chan struct{}), make(chan struct{})
	var syncReleased bool
	defer func() { // a failed test must not leave n8n's handler hanging
		if !syncReleased {
			close(releaseSync)
		}
	}()
	inFlight := make(chan string, 2)
	rcv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var in struct{ Kind string }
		_ = json.Unmarshal(body, &in)
		inFlight <- in.Kind
		if in.Kind == "sync" {
			<-releaseSync
		} else {
			<-releaseAsync
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"ok":true}`))
	})
	h.createWorkflow(t, "slow", rcv.URL, wfOpts{fee: 10, timeoutMS: 60_000})
	userID, ctx := h.user(t)
	h.fund(t, userID, 100)

	client := h.wf
	syncDone := make(chan *workflowv1.Run, 1)
	go func() {
		res, err := client.StartRun(ctx, &workflowv1.StartRunRequest{Workflow: "slow", InputJson: []byte(`{"kind":"sync"}`), IdempotencyKey: uuid.NewString()})
		if err != nil {
			t.Errorf("sync run: %v", err)
		}
		syncDone <- res.GetRun()
	}()
	async, err := client.StartRun(ctx, &workflowv1.StartRunRequest{Workflow: "slow", InputJson: []byte(`{"kind":"async"}`), IdempotencyKey: uuid.NewString(), Async: true})
	if err != nil {
		t.Fatal(err)
	}
	<-inFlight
	<-inFlight // both calls have reached n8n

	sigterm()
	close(releaseAsync)
	select {
	case <-a.WorkersStopped():
	case <-time.After(30 * time.Second):
		t.Fatal("the job workers did not stop while gRPC was draining a sync run")
	}
	select {
	case r := <-syncDone:
		t.Fatalf("the sync run ended before it was released: %v", r)
	default:
	}
	close(releaseSync)
	syncReleased = true
	if r := <-syncDone; r.GetStatus() != "succeeded" || r.GetChargedCents() != 10 {
		t.Fatalf("sync run = %v", r)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	// The async run was finished and booked by the replica that stopped.
	pool, err := pgxpool.New(context.Background(), h.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var st string
	var charged int64
	if err := pool.QueryRow(context.Background(), "SELECT status, charged_cents FROM runs WHERE id = $1", async.GetRun().GetId()).Scan(&st, &charged); err != nil || st != "succeeded" || charged != 10 {
		t.Fatalf("async run: %s, charged %d, %v", st, charged, err)
	}
	if w := h.walletOf(t, ctx); w.GetBalanceCents() != 80 || w.GetHeldCents() != 0 {
		t.Fatalf("wallet = %v, want 80 and nothing held", w)
	}
	// The stopped replica takes no new call.
	_, err = client.StartRun(ctx, &workflowv1.StartRunRequest{Workflow: "slow", InputJson: []byte(`{}`), IdempotencyKey: uuid.NewString()})
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("a call after the shutdown: %v", err)
	}
	h.checkLedger(t)
}
