package workflow_test

import (
	"context"
	"github.com/meterflow/meterflow/e2e/stack"
	"github.com/meterflow/meterflow/platform/process"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/meterflow/meterflow/platform/callauth"
	"github.com/meterflow/meterflow/platform/callauth/authtest"
	"github.com/meterflow/meterflow/platform/database/dbtest"
	identityv1 "github.com/meterflow/meterflow/proto/gen/meterflow/identity/v1"
	walletv1 "github.com/meterflow/meterflow/proto/gen/meterflow/wallet/v1"
	workflowv1 "github.com/meterflow/meterflow/proto/gen/meterflow/workflow/v1"
	"github.com/meterflow/meterflow/services/workflow/migrations"
)

// keyServer publishes the test signing key the way identity's
// GetSigningKeys does, so a workflow subprocess can verify test tokens.
type keyServer struct {
	identityv1.UnimplementedIdentityServiceServer
	keys *authtest.Keys
}

func (k keyServer) GetSigningKeys(ctx context.Context, _ *identityv1.GetSigningKeysRequest) (*identityv1.GetSigningKeysResponse, error) {
	pub, err := k.keys.PublicKey(ctx, "test-key")
	if err != nil {
		return nil, err
	}
	return &identityv1.GetSigningKeysResponse{Keys: []*identityv1.SigningKey{{Kid: "test-key", PublicKey: pub}}}, nil
}

func startKeyServer(t *testing.T, keys *authtest.Keys) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	identityv1.RegisterIdentityServiceServer(srv, keyServer{keys: keys})
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

// TestKilledMidRunIsSettledAfterRestart kills the real workflow binary with
// SIGKILL while a run's fee is held and n8n is still working, then starts
// it again: the run must end failed, the hold released once, nothing charged.
func TestKilledMidRunIsSettledAfterRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the workflow binary")
	}
	t.Parallel()
	keys := authtest.NewKeys(t)
	walletLogs := &syncBuffer{}
	walletApp, walletAddr := startWallet(t, keys, walletLogs)
	identityAddr := startKeyServer(t, keys)
	_, dbURL := dbtest.New(t, migrations.FS)

	binDir := t.TempDir()
	if err := stack.Build(binDir, "workflow"); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(binDir, "workflow")
	grpcAddr := closedAddr(t)
	env := append(os.Environ(),
		"APP_ENV=development", "DATABASE_URL="+dbURL, "GRPC_ADDR="+grpcAddr, "METRICS_ADDR=",
		"WALLET_ADDR="+walletAddr, "IDENTITY_ADDR="+identityAddr, "INTERNAL_AUTH_SECRET="+authtest.Secret,
		"WORKFLOW_SETTLE_GRACE=1s", "WORKFLOW_SETTLE_INTERVAL=200ms", "OTEL_EXPORTER_OTLP_ENDPOINT=",
		"WORKFLOW_ALLOW_PRIVATE=true", // n8n is a local receiver
	)
	if out, err := commandWithEnv(bin, env, "migrate").CombinedOutput(); err != nil {
		t.Fatalf("workflow migrate: %v\n%s", err, out)
	}
	procLogs := &syncBuffer{}
	start := func() *exec.Cmd {
		cmd := commandWithEnv(bin, env)
		cmd.Stdout, cmd.Stderr = procLogs, procLogs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		deadline := time.Now().Add(15 * time.Second)
		for process.CheckGRPC(context.Background(), grpcAddr) != nil {
			if time.Now().After(deadline) {
				t.Fatalf("workflow did not become healthy:\n%s", procLogs.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
		return cmd
	}
	proc := start()

	entered := make(chan struct{}, 1)
	unblock := make(chan struct{})
	rcv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		select {
		case <-unblock:
		case <-r.Context().Done():
		}
	})
	t.Cleanup(func() { close(unblock) })

	h := &harness{keys: keys, walletApp: walletApp,
		wf:       workflowv1.NewWorkflowServiceClient(dial(t, grpcAddr, "workflow")),
		wallet:   walletv1.NewWalletServiceClient(dial(t, walletAddr, "wallet")),
		adminCtx: callauth.WithUserToken(context.Background(), keys.AccessToken(t, "7a1d9d8e-0000-4000-8000-000000000001", true)),
	}
	h.createWorkflow(t, "blocking", rcv.URL, wfOpts{fee: 10, timeoutMS: 1500})
	userID, ctx := h.user(t)
	h.fund(t, userID, 100)

	callErr := make(chan error, 1)
	go func() {
		_, err := startRun(ctx, h, "blocking", `{"job":"long"}`, "", false)
		callErr <- err
	}()
	<-entered
	if w := h.walletOf(t, ctx); w.GetHeldCents() != 10 {
		t.Fatalf("wallet while n8n works = %v, want 10 held", w)
	}
	if err := proc.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = proc.Wait()
	if err := <-callErr; err == nil {
		t.Fatal("the call to a killed process succeeded")
	}

	// Still held while the process is down: only the settler may decide.
	if w := h.walletOf(t, ctx); w.GetHeldCents() != 10 || w.GetBalanceCents() != 100 {
		t.Fatalf("wallet after the kill = %v", w)
	}
	start()
	runs, err := h.wf.ListRuns(ctx, &workflowv1.ListRunsRequest{})
	if err != nil || len(runs.GetRuns()) != 1 {
		t.Fatalf("runs = %v, %v", runs, err)
	}
	id := runs.GetRuns()[0].GetId()
	run := waitRun(t, ctx, h, id, func(r *workflowv1.Run) bool { return r.GetStatus() == "failed" })
	if run.GetChargedCents() != 0 || !strings.HasPrefix(run.GetError(), "interrupted") {
		t.Fatalf("settled run = %v", run)
	}
	deadline := time.Now().Add(10 * time.Second)
	for h.walletOf(t, ctx).GetHeldCents() != 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if w := h.walletOf(t, ctx); w.GetHeldCents() != 0 || w.GetBalanceCents() != 100 || w.GetAvailableCents() != 100 {
		t.Fatalf("wallet after settling = %v, want 100 and nothing held", w)
	}
	if rows := h.feeRows(t, ctx); len(rows) != 0 {
		t.Fatalf("fee rows = %v", rows)
	}
	// Settled exactly once, though the settler kept running.
	time.Sleep(500 * time.Millisecond)
	if n := strings.Count(procLogs.String(), `"msg":"settled overdue run"`); n != 1 {
		t.Fatalf("settled %d times, want once:\n%s", n, procLogs.String())
	}
	if rcv.hits.Load() != 1 {
		t.Fatalf("n8n was called %d times, want once (never resent)", rcv.hits.Load())
	}
	h.checkLedger(t)
}

func commandWithEnv(bin string, env []string, args ...string) *exec.Cmd {
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	return cmd
}
