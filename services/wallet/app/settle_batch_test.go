package app_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"

	"github.com/meterflow/meterflow/platform/rpcerr"
	walletv1 "github.com/meterflow/meterflow/proto/gen/meterflow/wallet/v1"
)

// settleModes runs a test with captures and releases batched (the
// default) and one by one (WALLET_SETTLE_BATCH_MAX=1): both must give the
// same answers.
var settleModes = []struct {
	name string
	max  int
}{{"batched", 0}, {"one by one", 1}}

// TestConcurrentSettlementsAnswerAsOneByOne: on one hot account, holds
// are captured and released by several callers at once (repeats, and
// captures racing releases of the same hold), while new holds are reserved
// and keys never reserved are captured. Per hold exactly one settlement
// wins: every capture answer is the hold's one fee row when it was
// captured, every release answer the released hold, every loser
// conflict; each captured hold has exactly one fee row; the balance is
// the funding less the captured holds, the held amount the open holds';
// the low-balance crossing is written once; `wallet verify` passes.
func TestConcurrentSettlementsAnswerAsOneByOne(t *testing.T) {
	t.Parallel()
	// Per hold, the calls made at once: c a capture, r a release.
	tests := []struct {
		name  string
		calls []string
	}{
		{"captures repeated", []string{"c", "c", "c"}},
		{"releases repeated", []string{"r", "r"}},
		{"a capture racing a release", []string{"c", "r"}},
		{"releases racing a capture", []string{"r", "c", "r"}},
		{"a lone capture", []string{"c"}},
		{"a lone release", []string{"r"}},
	}
	for _, mode := range settleModes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, func(o *options) { o.settleMax = mode.max })
			user := uuid.NewString()
			const funding, holdsPerCase, reserves = 100_000, 8, 40
			b.fund(user, funding)
			ctx := context.Background()
			type hold struct {
				key, id string
				amount  int64
				calls   []string
			}
			var holds []hold
			for c, tc := range tests {
				for i := range holdsPerCase {
					h := hold{key: fmt.Sprintf("settle-%d-%d", c, i), amount: int64(10 + c*holdsPerCase + i), calls: tc.calls}
					resp, err := b.workflow.Reserve(ctx, &walletv1.ReserveRequest{Key: h.key, UserId: user, AmountCents: h.amount})
					if err != nil {
						t.Fatal(err)
					}
					h.id = resp.GetHold().GetId()
					holds = append(holds, h)
				}
			}
			// The available balance stays below the threshold whatever
			// the order: the first capture crosses it, the others find
			// it disarmed.
			threshold := funding + 1
			if _, err := b.pool.Exec(ctx, `INSERT INTO wallet_settings (user_id, low_balance_threshold_cents, auto_topup_threshold_cents, auto_topup_amount_cents)
				VALUES ($1, $2, 0, 500)`, user, threshold); err != nil {
				t.Fatal(err)
			}
			answers := make([][]string, len(holds))
			var wg sync.WaitGroup
			for i, h := range holds {
				answers[i] = make([]string, len(h.calls))
				for j, call := range h.calls {
					wg.Go(func() {
						var err error
						if call == "c" {
							var resp *walletv1.CaptureResponse
							resp, err = b.workflow.Capture(ctx, &walletv1.CaptureRequest{Key: h.key})
							answers[i][j] = "captured " + resp.GetHold().GetStatus() + " " + resp.GetTransaction().GetId()
						} else {
							var resp *walletv1.ReleaseResponse
							resp, err = b.workflow.Release(ctx, &walletv1.ReleaseRequest{Key: h.key})
							answers[i][j] = "released " + resp.GetHold().GetStatus()
						}
						switch {
						case err == nil:
						case isCode(err, codes.FailedPrecondition, rpcerr.Conflict):
							answers[i][j] = "conflict"
						default:
							t.Errorf("%s of %s: %v", call, h.key, err)
						}
					})
				}
			}
			for i := range reserves {
				wg.Go(func() {
					if _, err := b.workflow.Reserve(ctx, &walletv1.ReserveRequest{Key: fmt.Sprint("new-", i), UserId: user, AmountCents: 10}); err != nil {
						t.Errorf("Reserve: %v", err)
					}
				})
				wg.Go(func() {
					_, err := b.workflow.Capture(ctx, &walletv1.CaptureRequest{Key: fmt.Sprint("never-", i)})
					if !isCode(err, codes.NotFound, rpcerr.NotFound) {
						t.Errorf("capture of a key never reserved: %v", err)
					}
				})
			}
			wg.Wait()
			captured := int64(0)
			for i, h := range holds {
				var status, fee string
				var fees int
				if err := b.pool.QueryRow(ctx, `SELECT h.status, coalesce((SELECT t.id::text FROM transactions t WHERE t.source_key = 'fee:' || h.id), ''),
					(SELECT count(*) FROM transactions t WHERE t.source_key = 'fee:' || h.id) FROM holds h WHERE h.key = $1`, h.key).Scan(&status, &fee, &fees); err != nil {
					t.Fatal(err)
				}
				wantFees := 0
				if status == "captured" {
					wantFees, captured = 1, captured+h.amount
				}
				if fees != wantFees {
					t.Errorf("hold %s (%s): %d fee rows", h.key, status, fees)
				}
				for j, call := range h.calls {
					want := "conflict"
					switch {
					case call == "c" && status == "captured":
						want = "captured captured " + fee
					case call == "r" && status == "released":
						want = "released released"
					}
					if answers[i][j] != want {
						t.Errorf("hold %s (%s): call %d (%s) answered %q, want %q", h.key, status, j, call, answers[i][j], want)
					}
				}
			}
			b.wantBalance(user, funding-captured, reserves*10)
			if n := b.count(`SELECT count(*) FROM balance_crossings WHERE user_id = $1`, user); n != 1 {
				t.Errorf("%d crossings, want 1", n)
			}
			b.verify()
			b.logSettleBatches()
		})
	}
}

// logSettleBatches logs how captures and releases were batched
// (wallet_settle_batch_size): it depends on timing, so it is shown, not
// asserted.
func (b *bundle) logSettleBatches() {
	b.t.Helper()
	mfs, err := b.app.Registry.Gather()
	if err != nil {
		b.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "wallet_settle_batch_size" && len(mf.GetMetric()) > 0 {
			h := mf.GetMetric()[0].GetHistogram()
			b.t.Logf("%d settle transactions for %.0f settlements", h.GetSampleCount(), h.GetSampleSum())
		}
	}
}
