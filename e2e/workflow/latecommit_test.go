package workflow_test

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	walletv1 "github.com/meterflow/meterflow/proto/gen/meterflow/wallet/v1"
	"github.com/meterflow/meterflow/services/workflow/app"
)

// lateWallet stands between the workflow service and the real wallet and
// plays a COMMIT whose answer is lost: Reserve answers Unavailable at once
// while the reserve reaches the wallet (and commits) a moment later.
// Capture and Release pass through.
type lateWallet struct {
	walletv1.UnimplementedWalletServiceServer
	real walletv1.WalletServiceClient
}

func forward(ctx context.Context) context.Context {
	md, _ := metadata.FromIncomingContext(ctx)
	return metadata.NewOutgoingContext(context.WithoutCancel(ctx), md)
}

func (l lateWallet) Reserve(ctx context.Context, req *walletv1.ReserveRequest) (*walletv1.ReserveResponse, error) {
	out := forward(ctx)
	go func() {
		time.Sleep(300 * time.Millisecond)
		cctx, cancel := context.WithTimeout(out, 5*time.Second)
		defer cancel()
		_, _ = l.real.Reserve(cctx, req)
	}()
	return nil, status.Error(codes.Unavailable, "connection lost at commit")
}

func (l lateWallet) Capture(ctx context.Context, req *walletv1.CaptureRequest) (*walletv1.CaptureResponse, error) {
	return l.real.Capture(forward(ctx), req)
}

func (l lateWallet) Release(ctx context.Context, req *walletv1.ReleaseRequest) (*walletv1.ReleaseResponse, error) {
	return l.real.Release(forward(ctx), req)
}

func startLateWallet(t testing.TB, target string) string {
	t.Helper()
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	walletv1.RegisterWalletServiceServer(srv, lateWallet{real: walletv1.NewWalletServiceClient(conn)})
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(func() {
		srv.Stop()
		_ = conn.Close()
	})
	return lis.Addr().String()
}

// TestReserveCommittedAfterItsErrorIsReleased: a reserve whose answer is
// lost but which commits a moment later is still released. Regression: the
// run was failed and released at once; the release found no hold yet
// (NotFound, taken as "never made"), and the hold committed afterwards
// stayed held until the wallet's expiry (found by the reliability drills'
// cut COMMIT). Now the release of an unknown reserve waits for the settler.
func TestReserveCommittedAfterItsErrorIsReleased(t *testing.T) {
	t.Parallel()
	h := setup(t, func(c *app.Config) {
		c.WalletAddr = startLateWallet(t, c.WalletAddr)
	})
	rcv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) { answerJSON(w, r) })
	h.createWorkflow(t, "late-commit", rcv.URL, wfOpts{fee: 10, timeoutMS: 500})
	userID, ctx := h.user(t)
	h.fund(t, userID, 100)

	if _, err := startRun(ctx, h, "late-commit", `{"n":1}`, "", false); status.Code(err) != codes.Unavailable {
		t.Fatalf("StartRun = %v, want Unavailable", err)
	}
	// The late reserve lands; the settler (deadline + 1 s grace) releases it.
	time.Sleep(500 * time.Millisecond)
	deadline := time.Now().Add(15 * time.Second)
	for {
		w := h.walletOf(t, ctx)
		if w.GetHeldCents() == 0 && w.GetBalanceCents() == 100 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("wallet = %v: the late hold was never released", w)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if rcv.hits.Load() != 0 {
		t.Fatalf("n8n called %d times for a run that never got its hold", rcv.hits.Load())
	}
	h.checkLedger(t)
}
