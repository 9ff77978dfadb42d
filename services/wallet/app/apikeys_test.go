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

	"github.com/meterflow/meterflow/platform/apikey"
	"github.com/meterflow/meterflow/platform/callauth"
	"github.com/meterflow/meterflow/platform/rpcerr"
	walletv1 "github.com/meterflow/meterflow/proto/gen/meterflow/wallet/v1"
)

// TestConcurrentKeyedReservesNeverExceedTheLimit: 100 reserves of 10 at
// once against a key limited to 50 a month hold exactly 5; the rest are
// spend_limit_exceeded and hold nothing. A release gives room back.
func TestConcurrentKeyedReservesNeverExceedTheLimit(t *testing.T) {
	t.Parallel()
	b := setup(t)
	user, key := uuid.NewString(), uuid.NewString()
	b.fund(user, 10_000)
	limit := int64(50)
	reserve := func(k string) error {
		_, err := b.workflow.Reserve(context.Background(), &walletv1.ReserveRequest{
			Key: k, UserId: user, AmountCents: 10, ApiKeyId: key, ApiKeyMonthlyLimitCents: &limit,
		})
		return err
	}
	var ok, refused atomic.Int64
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Go(func() {
			switch err := reserve(fmt.Sprint("run-", i)); {
			case err == nil:
				ok.Add(1)
			case isCode(err, codes.FailedPrecondition, rpcerr.SpendLimitExceeded):
				refused.Add(1)
			default:
				t.Errorf("Reserve: %v", err)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 5 || refused.Load() != 95 {
		t.Fatalf("held %d, refused %d; want 5 and 95", ok.Load(), refused.Load())
	}
	b.wantBalance(user, 10_000, 50)
	if n := b.count(`SELECT count(*) FROM holds WHERE user_id = $1`, user); n != 5 {
		t.Fatalf("holds = %d, want 5", n)
	}
	b.verify()

	spent := func() int64 {
		resp, err := b.gateway.GetAPIKeySpend(b.as(user, false), &walletv1.GetAPIKeySpendRequest{ApiKeyIds: []string{key}})
		if err != nil {
			t.Fatal(err)
		}
		s := resp.GetSpends()[0]
		if s.GetApiKeyId() != key || s.GetMonth() != time.Now().UTC().Format("2006-01") {
			t.Fatalf("spend = %v", s)
		}
		return s.GetSpentCents()
	}
	if got := spent(); got != 50 {
		t.Fatalf("spent = %d, want 50", got)
	}
	// Capturing keeps the fee spent; releasing gives it back.
	var held []string
	for i := range 100 {
		if b.count(`SELECT count(*) FROM holds WHERE key = $1`, fmt.Sprint("run-", i)) == 1 {
			held = append(held, fmt.Sprint("run-", i))
		}
	}
	if _, err := b.workflow.Capture(context.Background(), &walletv1.CaptureRequest{Key: held[0]}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.workflow.Release(context.Background(), &walletv1.ReleaseRequest{Key: held[1]}); err != nil {
		t.Fatal(err)
	}
	if got := spent(); got != 40 {
		t.Fatalf("spent after a capture and a release = %d, want 40", got)
	}
	if err := reserve("after-release"); err != nil {
		t.Fatalf("a reserve in the room a release made: %v", err)
	}
	wantErr(t, reserve("one-too-many"), codes.FailedPrecondition, rpcerr.SpendLimitExceeded)
	b.verify()

	// Another user learns nothing of this key's spend.
	resp, err := b.gateway.GetAPIKeySpend(b.as(uuid.NewString(), false), &walletv1.GetAPIKeySpendRequest{ApiKeyIds: []string{key, "junk"}})
	if err != nil || resp.GetSpends()[0].GetSpentCents() != 0 || resp.GetSpends()[1].GetSpentCents() != 0 {
		t.Fatalf("another user's view = %v, %v", resp, err)
	}
}

func TestKeyedReserveValidation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	user := uuid.NewString()
	b.fund(user, 1000)
	neg, lim := int64(-1), int64(100)
	for _, tc := range []struct {
		name string
		req  *walletv1.ReserveRequest
	}{
		{"limit without a key", &walletv1.ReserveRequest{Key: "a", UserId: user, AmountCents: 10, ApiKeyMonthlyLimitCents: &lim}},
		{"negative limit", &walletv1.ReserveRequest{Key: "b", UserId: user, AmountCents: 10, ApiKeyId: uuid.NewString(), ApiKeyMonthlyLimitCents: &neg}},
		{"malformed key id", &walletv1.ReserveRequest{Key: "c", UserId: user, AmountCents: 10, ApiKeyId: "key-1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := b.workflow.Reserve(context.Background(), tc.req)
			wantErr(t, err, codes.InvalidArgument, rpcerr.ValidationFailed)
		})
	}
	// The same reserve key with another API key is a reused key.
	key := uuid.NewString()
	if _, err := b.workflow.Reserve(context.Background(), &walletv1.ReserveRequest{Key: "same", UserId: user, AmountCents: 10, ApiKeyId: key}); err != nil {
		t.Fatal(err)
	}
	_, err := b.workflow.Reserve(context.Background(), &walletv1.ReserveRequest{Key: "same", UserId: user, AmountCents: 10, ApiKeyId: uuid.NewString()})
	wantErr(t, err, codes.FailedPrecondition, rpcerr.IdempotencyKeyReused)
	again, err := b.workflow.Reserve(context.Background(), &walletv1.ReserveRequest{Key: "same", UserId: user, AmountCents: 10, ApiKeyId: key})
	if err != nil || again.GetHold().GetApiKeyId() != key {
		t.Fatalf("replay = %v, %v", again, err)
	}
	b.verify()
}

// TestKeyTokensOnTheWallet: an API key's token reads the wallet with
// wallet:read and nothing else: not without the scope, not the key spend
// list (a login's only), not a top-up.
func TestKeyTokensOnTheWallet(t *testing.T) {
	t.Parallel()
	b := setup(t)
	user := uuid.NewString()
	b.fund(user, 100)
	key := func(scopes ...string) context.Context {
		return callauth.WithUserToken(context.Background(), b.keys.KeyToken(t, user, uuid.NewString(), scopes, nil, false))
	}
	reader, other := key(apikey.ScopeWalletRead), key(apikey.ScopeRunsRead, apikey.ScopeRunsWrite, apikey.ScopeWorkflowsRead)
	if w, err := b.gateway.GetWallet(reader, &walletv1.GetWalletRequest{}); err != nil || w.GetWallet().GetBalanceCents() != 100 {
		t.Fatalf("GetWallet with wallet:read = %v, %v", w, err)
	}
	if _, err := b.gateway.ListTransactions(reader, &walletv1.ListTransactionsRequest{}); err != nil {
		t.Fatalf("ListTransactions with wallet:read: %v", err)
	}
	_, err := b.gateway.GetWallet(other, &walletv1.GetWalletRequest{})
	wantErr(t, err, codes.PermissionDenied, rpcerr.InsufficientScope)
	_, err = b.gateway.GetAPIKeySpend(reader, &walletv1.GetAPIKeySpendRequest{})
	wantErr(t, err, codes.PermissionDenied, rpcerr.InsufficientScope)
	_, err = b.gateway.GetSpendByDay(reader, &walletv1.GetSpendByDayRequest{})
	wantErr(t, err, codes.PermissionDenied, rpcerr.InsufficientScope)
	_, err = b.gateway.CreateTopUp(reader, &walletv1.CreateTopUpRequest{AmountCents: 1000})
	wantErr(t, err, codes.PermissionDenied, rpcerr.InsufficientScope)
	_, err = b.gateway.GetTopUp(reader, &walletv1.GetTopUpRequest{Id: uuid.NewString()})
	wantErr(t, err, codes.PermissionDenied, rpcerr.InsufficientScope)
}
