package app_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"

	"github.com/meterflow/meterflow/platform/rpcerr"
	walletv1 "github.com/meterflow/meterflow/proto/gen/meterflow/wallet/v1"
)

// batchModes runs a test with reserves batched (the default) and one by
// one (WALLET_RESERVE_BATCH_MAX=1): both must give the same answers.
var batchModes = []struct {
	name string
	max  int
}{{"batched", 0}, {"one by one", 1}}

// TestConcurrentReservesHoldExactlyWhatFits: concurrent reserves spread
// over accounts whose balances allow exactly k_i holds each: exactly k_i
// succeed per account, the others are insufficient_funds, and balances,
// held amounts and the ledger agree (`wallet verify`).
func TestConcurrentReservesHoldExactlyWhatFits(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		balances []int64 // each allows balance/10 holds of 10
		calls    int
	}{
		{"one hot account", []int64{250}, 120},
		{"several accounts", []int64{50, 0, 120, 10, 300}, 200},
	}
	for _, mode := range batchModes {
		for _, tc := range tests {
			t.Run(mode.name+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				b := setup(t, func(o *options) { o.batchMax = mode.max })
				users := make([]string, len(tc.balances))
				for i, c := range tc.balances {
					users[i] = uuid.NewString()
					if c > 0 {
						b.fund(users[i], c)
					}
				}
				held := make([]atomic.Int64, len(users))
				var wg sync.WaitGroup
				for i := range tc.calls {
					wg.Go(func() {
						u := i % len(users)
						_, err := b.workflow.Reserve(context.Background(), &walletv1.ReserveRequest{Key: fmt.Sprint("run-", i), UserId: users[u], AmountCents: 10})
						switch {
						case err == nil:
							held[u].Add(1)
						case isCode(err, codes.FailedPrecondition, rpcerr.InsufficientFunds):
						default:
							t.Errorf("Reserve: %v", err)
						}
					})
				}
				wg.Wait()
				for i, u := range users {
					calls := (tc.calls - i + len(users) - 1) / len(users)
					want := min(int64(calls), tc.balances[i]/10)
					if held[i].Load() != want {
						t.Errorf("account %d: %d holds, want %d", i, held[i].Load(), want)
					}
					if tc.balances[i] > 0 {
						b.wantBalance(u, tc.balances[i], want*10)
					}
					if n := b.count(`SELECT count(*) FROM holds WHERE user_id = $1 AND status = 'held'`, u); int64(n) != want {
						t.Errorf("account %d: %d holds in the database, want %d", i, n, want)
					}
				}
				b.verify()
				b.logBatches()
			})
		}
	}
}

// logBatches logs how the reserves were batched (wallet_reserve_batch_size):
// which batches formed depends on timing, so it is shown, not asserted.
func (b *bundle) logBatches() {
	b.t.Helper()
	mfs, err := b.app.Registry.Gather()
	if err != nil {
		b.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "wallet_reserve_batch_size" {
			h := mf.GetMetric()[0].GetHistogram()
			b.t.Logf("%d reserve transactions for %.0f holds", h.GetSampleCount(), h.GetSampleSum())
		}
	}
}

// TestConcurrentReplaysAnswerOneHold: each of 30 keys reserved by 8
// callers at once (a workflow retrying, or two replicas), against a
// balance that covers 20 holds: per key, every answer is the same hold, or
// every answer insufficient_funds (funds never come back here, so a key
// refused once is refused again); 20 holds exist. A repeated key with
// another amount is idempotency_key_reused.
func TestConcurrentReplaysAnswerOneHold(t *testing.T) {
	t.Parallel()
	for _, mode := range batchModes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, func(o *options) { o.batchMax = mode.max })
			user := uuid.NewString()
			b.fund(user, 200)
			const keys, repeats = 30, 8
			answers := make([][]string, keys)
			for k := range answers {
				answers[k] = make([]string, repeats)
			}
			var wg sync.WaitGroup
			for r := range repeats {
				for k := range keys {
					wg.Go(func() {
						resp, err := b.workflow.Reserve(context.Background(), &walletv1.ReserveRequest{Key: fmt.Sprint("run-", k), UserId: user, AmountCents: 10})
						switch {
						case err == nil:
							answers[k][r] = resp.GetHold().GetId()
						case isCode(err, codes.FailedPrecondition, rpcerr.InsufficientFunds):
							answers[k][r] = "insufficient_funds"
						default:
							t.Errorf("Reserve: %v", err)
						}
					})
				}
			}
			wg.Wait()
			heldKeys := 0
			for k, a := range answers {
				for _, x := range a {
					if x != a[0] {
						t.Fatalf("key %d answered %v", k, a)
					}
				}
				if a[0] != "insufficient_funds" {
					heldKeys++
				}
			}
			if heldKeys != 20 {
				t.Fatalf("%d keys hold, want 20", heldKeys)
			}
			if n := b.count(`SELECT count(*) FROM holds WHERE user_id = $1`, user); n != 20 {
				t.Fatalf("holds = %d, want 20", n)
			}
			b.wantBalance(user, 200, 200)
			// A held key with another amount, concurrently with its replays.
			var reused, replayed atomic.Int64
			held := ""
			for k, a := range answers {
				if a[0] != "insufficient_funds" {
					held = fmt.Sprint("run-", k)
					break
				}
			}
			for i := range 10 {
				wg.Go(func() {
					amount := int64(10)
					if i%2 == 1 {
						amount = 11
					}
					_, err := b.workflow.Reserve(context.Background(), &walletv1.ReserveRequest{Key: held, UserId: user, AmountCents: amount})
					switch {
					case err == nil && amount == 10:
						replayed.Add(1)
					case isCode(err, codes.FailedPrecondition, rpcerr.IdempotencyKeyReused) && amount == 11:
						reused.Add(1)
					default:
						t.Errorf("Reserve of %d under %s: %v", amount, held, err)
					}
				})
			}
			wg.Wait()
			if replayed.Load() != 5 || reused.Load() != 5 {
				t.Fatalf("replayed %d, reused %d; want 5 and 5", replayed.Load(), reused.Load())
			}
			b.wantBalance(user, 200, 200)
			b.verify()
		})
	}
}
