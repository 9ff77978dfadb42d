package app_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/meterflow/meterflow/platform/rpcerr"
	walletv1 "github.com/meterflow/meterflow/proto/gen/meterflow/wallet/v1"
)

func TestConcurrentReservesNeverOverdraw(t *testing.T) {
	t.Parallel()
	b := setup(t)
	user := uuid.NewString()
	b.fund(user, 200)

	var ok, refused atomic.Int64
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Go(func() {
			_, err := b.workflow.Reserve(context.Background(), &walletv1.ReserveRequest{Key: fmt.Sprintf("run-%d", i), UserId: user, AmountCents: 10})
			switch {
			case err == nil:
				ok.Add(1)
			case isCode(err, codes.FailedPrecondition, rpcerr.InsufficientFunds):
				refused.Add(1)
			default:
				t.Errorf("Reserve: %v", err)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 20 || refused.Load() != 180 {
		t.Fatalf("holds = %d, refused = %d; want 20 and 180", ok.Load(), refused.Load())
	}
	if n := b.count(`SELECT count(*) FROM holds WHERE user_id = $1 AND status = 'held'`, user); n != 20 {
		t.Fatalf("open holds in the database = %d, want 20", n)
	}
	b.wantBalance(user, 200, 200)
	b.verify()

	// Capture them all concurrently: the balance reaches exactly zero.
	var cwg sync.WaitGroup
	for i := range 200 {
		cwg.Go(func() {
			_, err := b.workflow.Capture(context.Background(), &walletv1.CaptureRequest{Key: fmt.Sprintf("run-%d", i)})
			if err != nil && !isCode(err, codes.NotFound, rpcerr.NotFound) {
				t.Errorf("Capture: %v", err)
			}
		})
	}
	cwg.Wait()
	b.wantBalance(user, 0, 0)
	if n := b.count(`SELECT count(*) FROM transactions WHERE user_id = $1 AND kind = 'fee'`, user); n != 20 {
		t.Fatalf("fee rows = %d, want 20", n)
	}
	b.verify()
}

func TestCaptureAndReleaseWinExactlyOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	user := uuid.NewString()
	b.fund(user, 1000)
	ctx := context.Background()
	for _, key := range []string{"cap", "rel", "race"} {
		if _, err := b.workflow.Reserve(ctx, &walletv1.ReserveRequest{Key: key, UserId: user, AmountCents: 100, Description: "run " + key}); err != nil {
			t.Fatal(err)
		}
	}
	b.wantBalance(user, 1000, 300)

	// 20 concurrent captures: all answer with the same hold and fee row.
	var wg sync.WaitGroup
	feeIDs := make([]string, 20)
	for i := range 20 {
		wg.Go(func() {
			resp, err := b.workflow.Capture(ctx, &walletv1.CaptureRequest{Key: "cap"})
			if err != nil {
				t.Errorf("Capture: %v", err)
				return
			}
			if resp.GetHold().GetStatus() != "captured" || resp.GetTransaction().GetAmountCents() != -100 || resp.GetTransaction().GetKind() != "fee" {
				t.Errorf("Capture = %v", resp)
			}
			feeIDs[i] = resp.GetTransaction().GetId()
		})
	}
	// 20 concurrent releases of another hold.
	for range 20 {
		wg.Go(func() {
			resp, err := b.workflow.Release(ctx, &walletv1.ReleaseRequest{Key: "rel"})
			if err != nil || resp.GetHold().GetStatus() != "released" {
				t.Errorf("Release = %v, %v", resp, err)
			}
		})
	}
	// 10 captures racing 10 releases on one hold: one side wins, the other side is refused.
	var captured, released, conflicts atomic.Int64
	for i := range 20 {
		wg.Go(func() {
			var err error
			if i%2 == 0 {
				_, err = b.workflow.Capture(ctx, &walletv1.CaptureRequest{Key: "race"})
				if err == nil {
					captured.Add(1)
				}
			} else {
				_, err = b.workflow.Release(ctx, &walletv1.ReleaseRequest{Key: "race"})
				if err == nil {
					released.Add(1)
				}
			}
			if err != nil {
				if !isCode(err, codes.FailedPrecondition, rpcerr.Conflict) {
					t.Errorf("race: %v", err)
				}
				conflicts.Add(1)
			}
		})
	}
	wg.Wait()
	for _, id := range feeIDs {
		if id != feeIDs[0] {
			t.Fatalf("captures returned different fee rows: %v", feeIDs)
		}
	}
	if (captured.Load() == 10) == (released.Load() == 10) || conflicts.Load() != 10 {
		t.Fatalf("race: captured %d, released %d, conflicts %d; want one side 10/10", captured.Load(), released.Load(), conflicts.Load())
	}
	wantBalance := int64(900)
	if captured.Load() == 10 {
		wantBalance = 800
	}
	b.wantBalance(user, wantBalance, 0)
	if n := b.count(`SELECT count(*) FROM transactions WHERE user_id = $1 AND kind = 'fee'`, user); n != int(1000-wantBalance)/100 {
		t.Fatalf("fee rows = %d", n)
	}
	b.verify()
}

func TestHoldRules(t *testing.T) {
	t.Parallel()
	b := setup(t)
	user := uuid.NewString()
	b.fund(user, 500)
	ctx := context.Background()
	reserve := func(key string, amount int64) (*walletv1.ReserveResponse, error) {
		return b.workflow.Reserve(ctx, &walletv1.ReserveRequest{Key: key, UserId: user, AmountCents: amount})
	}
	first, err := reserve("k1", 100)
	if err != nil {
		t.Fatal(err)
	}
	again, err := reserve("k1", 100)
	if err != nil || again.GetHold().GetId() != first.GetHold().GetId() {
		t.Fatalf("repeated reserve = %v, %v; want the same hold", again, err)
	}
	_, err = reserve("k1", 200)
	wantErr(t, err, codes.FailedPrecondition, rpcerr.IdempotencyKeyReused)
	_, err = b.workflow.Reserve(ctx, &walletv1.ReserveRequest{Key: "k1", UserId: uuid.NewString(), AmountCents: 100})
	wantErr(t, err, codes.FailedPrecondition, rpcerr.IdempotencyKeyReused)
	_, err = reserve("k2", 401)
	wantErr(t, err, codes.FailedPrecondition, rpcerr.InsufficientFunds)

	if _, err := b.workflow.Release(ctx, &walletv1.ReleaseRequest{Key: "k1"}); err != nil {
		t.Fatal(err)
	}
	_, err = b.workflow.Capture(ctx, &walletv1.CaptureRequest{Key: "k1"})
	wantErr(t, err, codes.FailedPrecondition, rpcerr.Conflict)
	// The same key after release returns the released hold, not a new one.
	again, err = reserve("k1", 100)
	if err != nil || again.GetHold().GetStatus() != "released" {
		t.Fatalf("reserve of a released key = %v, %v", again, err)
	}
	if _, err := reserve("k3", 50); err != nil {
		t.Fatal(err)
	}
	if _, err := b.workflow.Capture(ctx, &walletv1.CaptureRequest{Key: "k3"}); err != nil {
		t.Fatal(err)
	}
	_, err = b.workflow.Release(ctx, &walletv1.ReleaseRequest{Key: "k3"})
	wantErr(t, err, codes.FailedPrecondition, rpcerr.Conflict)
	_, err = b.workflow.Capture(ctx, &walletv1.CaptureRequest{Key: "nope"})
	wantErr(t, err, codes.NotFound, rpcerr.NotFound)
	_, err = b.workflow.Release(ctx, &walletv1.ReleaseRequest{Key: "nope"})
	wantErr(t, err, codes.NotFound, rpcerr.NotFound)
	// An account that does not exist has nothing to reserve.
	_, err = b.workflow.Reserve(ctx, &walletv1.ReserveRequest{Key: "k4", UserId: uuid.NewString(), AmountCents: 1})
	wantErr(t, err, codes.FailedPrecondition, rpcerr.InsufficientFunds)
	b.wantBalance(user, 450, 0)
	b.verify()
}

func TestReserveValidation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	user := uuid.NewString()
	tests := []struct {
		name  string
		req   *walletv1.ReserveRequest
		field string
	}{
		{"empty key", &walletv1.ReserveRequest{UserId: user, AmountCents: 10}, "key"},
		{"zero amount", &walletv1.ReserveRequest{Key: "a", UserId: user}, "amount_cents"},
		{"negative amount", &walletv1.ReserveRequest{Key: "a", UserId: user, AmountCents: -5}, "amount_cents"},
		{"bad user", &walletv1.ReserveRequest{Key: "a", UserId: "bob", AmountCents: 5}, "user_id"},
		{"past expiry", &walletv1.ReserveRequest{Key: "a", UserId: user, AmountCents: 5, ExpiresAt: timestamppb.New(time.Now().Add(-time.Minute))}, "expires_at"},
		{"far expiry", &walletv1.ReserveRequest{Key: "a", UserId: user, AmountCents: 5, ExpiresAt: timestamppb.New(time.Now().Add(30 * 24 * time.Hour))}, "expires_at"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := b.workflow.Reserve(context.Background(), tc.req)
			wantErr(t, err, codes.InvalidArgument, rpcerr.ValidationFailed)
			if f := rpcerr.Fields(err); len(f) != 1 || f[0].Field != tc.field {
				t.Fatalf("fields = %v, want %s", f, tc.field)
			}
		})
	}
}

func TestSweeperReleasesExpiredHolds(t *testing.T) {
	t.Parallel()
	b := setup(t, func(o *options) { o.sweep = 50 * time.Millisecond })
	user := uuid.NewString()
	b.fund(user, 100)
	ctx := context.Background()
	if _, err := b.workflow.Reserve(ctx, &walletv1.ReserveRequest{Key: "short", UserId: user, AmountCents: 60, ExpiresAt: timestamppb.New(time.Now().Add(300 * time.Millisecond))}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.workflow.Reserve(ctx, &walletv1.ReserveRequest{Key: "long", UserId: user, AmountCents: 40}); err != nil {
		t.Fatal(err)
	}
	b.wantBalance(user, 100, 100)
	deadline := time.Now().Add(15 * time.Second)
	for b.count(`SELECT count(*) FROM holds WHERE key = 'short' AND status = 'released'`) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the sweeper did not release the expired hold")
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.wantBalance(user, 100, 40)
	_, err := b.workflow.Capture(ctx, &walletv1.CaptureRequest{Key: "short"})
	wantErr(t, err, codes.FailedPrecondition, rpcerr.Conflict)
	b.verify()
}

func TestCallPolicy(t *testing.T) {
	t.Parallel()
	b := setup(t)
	user := uuid.NewString()
	ctx := context.Background()
	// Hold operations: only the workflow service.
	_, err := b.gateway.Reserve(ctx, &walletv1.ReserveRequest{Key: "x", UserId: user, AmountCents: 1})
	wantErr(t, err, codes.PermissionDenied, rpcerr.Forbidden)
	_, err = b.identity.Capture(ctx, &walletv1.CaptureRequest{Key: "x"})
	wantErr(t, err, codes.PermissionDenied, rpcerr.Forbidden)
	// The webhook: only the gateway.
	_, err = b.workflow.HandleStripeEvent(ctx, &walletv1.HandleStripeEventRequest{Payload: []byte("{}")})
	wantErr(t, err, codes.PermissionDenied, rpcerr.Forbidden)
	// User methods need the user's token.
	_, err = b.gateway.GetWallet(ctx, &walletv1.GetWalletRequest{})
	wantErr(t, err, codes.Unauthenticated, rpcerr.Unauthorized)
	_, err = b.workflow.GetWallet(b.as(user, false), &walletv1.GetWalletRequest{})
	wantErr(t, err, codes.PermissionDenied, rpcerr.Forbidden)
	// Admin methods need an admin's token.
	_, err = b.gateway.AdminAdjustBalance(b.as(user, false), &walletv1.AdminAdjustBalanceRequest{UserId: user, AmountCents: 100, Reason: "self-service"})
	wantErr(t, err, codes.PermissionDenied, rpcerr.Forbidden)
	_, err = b.gateway.AdminListTransactions(b.as(user, false), &walletv1.AdminListTransactionsRequest{})
	wantErr(t, err, codes.PermissionDenied, rpcerr.Forbidden)
	// A user token from a key identity never published is refused.
	other := setup(t, func(o *options) { o.stripeBase = b.cfg.StripeAPIBase })
	_, err = b.gateway.GetWallet(other.as(user, false), &walletv1.GetWalletRequest{})
	wantErr(t, err, codes.Unauthenticated, rpcerr.Unauthorized)
	b.wantBalance(user, 0, 0)
}
