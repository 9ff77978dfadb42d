package postgres_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/meterflow/meterflow/services/wallet/internal/postgres"
	"github.com/meterflow/meterflow/services/wallet/internal/wallet"
)

// TestSettleAloneAgreesWithTransactions holds the one-statement captures
// of users without settings (capture_hold_alone and settle_holds_alone,
// migration 00010, ADR 0022) against the transaction path that users with
// settings take (the path every capture took before): each case runs on
// accounts set up alike, once with the store's defaults and once with
// every capture in a transaction, both one by one and batched. Every
// answer (the hold, the fee in every column, as stored), every hold's and
// fee row's columns, the account, the key months, the crossings, the
// settings and the queued jobs must be the same; `wallet verify` must
// pass.
func TestSettleAloneAgreesWithTransactions(t *testing.T) {
	t.Parallel()
	pool, client := settleDB(t)
	tests := []settleCase{
		{name: "captures and releases without settings", balance: 1000, holds: []settleHold{{amount: 100}, {amount: 200}, {amount: 300}, {amount: 50}},
			steps: []settleStep{capt(0), rel(1), capt(2), rel(3)}},
		{name: "repeats, conflicts and unknown keys", balance: 1000,
			holds: []settleHold{{amount: 10}, {amount: 20}, {amount: 30, before: wallet.HoldCaptured}, {amount: 40, before: wallet.HoldReleased}},
			steps: []settleStep{capt(0), capt(0), rel(0), rel(1), capt(1), capt(2), rel(3), capt(-1), rel(-1)}},
		{name: "API key months", balance: 1000,
			holds: []settleHold{{amount: 10, apiKey: true}, {amount: 20, apiKey: true}, {amount: 30}, {amount: 40, apiKey: true}},
			steps: []settleStep{rel(0), capt(1), rel(2), capt(3), capt(0)}},
		{name: "the whole balance", balance: 101, holds: []settleHold{{amount: 60}, {amount: 40}}, steps: []settleStep{capt(0), capt(1)}},
		{name: "settings, low balance crossed", balance: 100, lowBalance: 50,
			holds: []settleHold{{amount: 30}, {amount: 30}, {amount: 30}}, steps: []settleStep{rel(0), capt(1), capt(2)}},
		{name: "settings, nothing crossed", balance: 1000, lowBalance: 10,
			holds: []settleHold{{amount: 30}, {amount: 30}}, steps: []settleStep{capt(0), rel(1)}},
		{name: "settings, auto top-up capped and low balance", balance: 100, lowBalance: 50, autoTopUp: 40,
			holds: []settleHold{{amount: 30}, {amount: 40}, {amount: 20}}, steps: []settleStep{capt(0), rel(2), capt(1)}},
		{name: "settings, only releases", balance: 100, lowBalance: 50, holds: []settleHold{{amount: 20}, {amount: 20}},
			steps: []settleStep{rel(0), rel(1)}},
	}
	for _, tc := range tests {
		for _, max := range []int{1, 64} {
			t.Run(fmt.Sprintf("%s/max=%d", tc.name, max), func(t *testing.T) {
				alone := newSettleWorld(t, pool, client, tc, max)
				inTx := newSettleWorld(t, pool, client, tc, max)
				inTx.store.SettleInTransactions()
				got, gotFees := alone.runAll(t, max > 1)
				want, wantFees := inTx.runAll(t, max > 1)
				if !slices.Equal(gotFees, wantFees) || slices.ContainsFunc(gotFees, func(d string) bool { return d != "" && d != "-" }) {
					t.Errorf("fees booked, as answered against their rows: %q, in a transaction %q", gotFees, wantFees)
				}
				for i := range tc.steps {
					if got[i] != want[i] {
						t.Errorf("call %d (%+v) answered %+v, in a transaction %+v", i, tc.steps[i], got[i], want[i])
					}
				}
				if g, w := alone.state(t), inTx.state(t); !equalStates(g, w) {
					t.Errorf("one statement:\n %+v\nin transactions:\n %+v", g, w)
				}
				if g, w := alone.rows(t), inTx.rows(t); !slices.Equal(g, w) {
					t.Errorf("rows, one statement:\n %q\nin transactions:\n %q", g, w)
				}
				wantVerified(t, alone.store)
			})
		}
	}
}

// freshFees records the fee of each capture that booked one, by key.
type freshFees struct {
	*postgres.Store
	mu   sync.Mutex
	fees map[string]wallet.Transaction
}

// CaptureHold implements wallet.Store: the store's, recording the fee.
func (f *freshFees) CaptureHold(ctx context.Context, key string, decide func(wallet.Hold) (wallet.Settlement, error)) (wallet.CaptureResult, error) {
	res, err := f.Store.CaptureHold(ctx, key, decide)
	if err == nil && res.Fresh {
		f.mu.Lock()
		f.fees[key] = res.Fee
		f.mu.Unlock()
	}
	return res, err
}

// runAll makes the case's calls one after the other (batched: queued
// behind the account's row, as runBatched does). It returns the answers
// and, for each hold, what its fee answered when booked differs from its
// stored row in any column ("" equal, "-" no fee booked).
func (w *settleWorld) runAll(t *testing.T, batched bool) ([]settleAnswer, []string) {
	t.Helper()
	rec := &freshFees{Store: w.store, fees: map[string]wallet.Transaction{}}
	w.svc = wallet.NewService(wallet.Config{Store: rec, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Currency: "usd",
		HoldDefaultTTL: time.Hour, HoldMaxTTL: 24 * time.Hour, PortalURL: "http://localhost"})
	var answers []settleAnswer
	if batched {
		answers, _, _ = w.runBatched(t)
	} else {
		answers = w.runOneByOne(t)
	}
	diffs := make([]string, len(w.keys))
	for i, k := range w.keys {
		fee, ok := rec.fees[k]
		if !ok {
			diffs[i] = "-"
			continue
		}
		var row wallet.Transaction
		if err := w.pool.QueryRow(w.ctx, `SELECT id, user_id, kind, amount_cents, balance_after_cents, description, reference_type, reference_id, created_at
			FROM transactions WHERE id = $1`, fee.ID).Scan(&row.ID, &row.UserID, &row.Kind, &row.AmountCents, &row.BalanceAfterCents,
			&row.Description, &row.ReferenceType, &row.ReferenceID, &row.CreatedAt); err != nil {
			diffs[i] = "row: " + err.Error()
			continue
		}
		if !fee.CreatedAt.Equal(row.CreatedAt) {
			diffs[i] = fmt.Sprintf("created_at %s, stored %s", fee.CreatedAt, row.CreatedAt)
			continue
		}
		if fee.CreatedAt = row.CreatedAt; fee != row {
			diffs[i] = fmt.Sprintf("%+v, stored %+v", fee, row)
		}
	}
	return answers, diffs
}

// rows are the case's holds and their fee rows, every column but ids and
// times, in terms both runs share.
func (w *settleWorld) rows(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, k := range w.keys {
		var s string
		if err := w.pool.QueryRow(w.ctx, `SELECT concat_ws(' | ', h.status, h.amount_cents, h.description, h.reference_type, h.reference_id,
				h.api_key_id IS NOT NULL, h.spend_month, h.updated_at >= h.created_at,
				(SELECT string_agg(concat_ws(' ', f.kind, f.amount_cents, f.balance_after_cents, f.description, f.reference_type, f.reference_id,
					f.source_key = 'fee:' || h.id, f.user_id = h.user_id, f.created_at >= h.created_at), ';')
				 FROM transactions f WHERE f.source_key = 'fee:' || h.id))
			FROM holds h WHERE h.key = $1`, k).Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

// TestCaptureHoldAloneOutcomes: capture_hold_alone's answers, and what
// each left, for an open hold of a user without settings, with settings,
// and a hold settled before or never reserved.
func TestCaptureHoldAloneOutcomes(t *testing.T) {
	t.Parallel()
	pool, client := settleDB(t)
	tests := []struct {
		name       string
		settings   bool
		before     string
		unknown    bool
		want       string
		wantStatus string
		wantFees   int
	}{
		{name: "open, no settings", want: "captured", wantStatus: wallet.HoldCaptured, wantFees: 1},
		{name: "open, settings", settings: true, want: "settings", wantStatus: wallet.HoldHeld},
		{name: "captured before", before: wallet.HoldCaptured, want: "settled", wantStatus: wallet.HoldCaptured, wantFees: 1},
		{name: "released before", before: wallet.HoldReleased, want: "settled", wantStatus: wallet.HoldReleased},
		{name: "captured before, settings", settings: true, before: wallet.HoldCaptured, want: "settings", wantStatus: wallet.HoldCaptured, wantFees: 1},
		{name: "never reserved", unknown: true, want: "settled"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newSettleWorld(t, pool, client, settleCase{balance: 100, holds: []settleHold{{amount: 30, before: tc.before}}}, 1)
			if tc.settings {
				insertSettings(t, w, 10)
			}
			id := uuid.New()
			if !tc.unknown {
				id = w.holdID(t, 0)
			}
			var outcome string
			var bal *int64
			var at *time.Time
			if err := pool.QueryRow(w.ctx, `SELECT outcome, fee_balance_after_cents, fee_created_at
				FROM capture_hold_alone($1::uuid, gen_random_uuid(), 'fee', -30, 'run 0', 'run', '0', 'fee:' || $2)`, id, id.String()).Scan(&outcome, &bal, &at); err != nil {
				t.Fatal(err)
			}
			if outcome != tc.want || (outcome == "captured") != (bal != nil && at != nil) {
				t.Fatalf("capture_hold_alone = %q, %v, %v; want %q", outcome, bal, at, tc.want)
			}
			if outcome == "captured" && *bal != 70 {
				t.Errorf("balance after the fee %d, want 70", *bal)
			}
			if tc.unknown {
				return
			}
			st := w.state(t)
			if st.statuses[0] != tc.wantStatus || st.fees[0] != tc.wantFees {
				t.Errorf("hold %s with %d fees, want %s with %d", st.statuses[0], st.fees[0], tc.wantStatus, tc.wantFees)
			}
			wantVerified(t, w.store)
		})
	}
}

// holdID is the id of the world's hold i.
func (w *settleWorld) holdID(t *testing.T, i int) uuid.UUID {
	t.Helper()
	var id uuid.UUID
	if err := w.pool.QueryRow(w.ctx, `SELECT id FROM holds WHERE key = $1`, w.keys[i]).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

// insertSettings gives the world's user settings with a low-balance
// threshold, armed.
func insertSettings(t *testing.T, w *settleWorld, threshold int64) {
	t.Helper()
	if _, err := w.pool.Exec(w.ctx, `INSERT INTO wallet_settings (user_id, low_balance_threshold_cents, auto_topup_threshold_cents, auto_topup_amount_cents)
		VALUES ($1, $2, 0, 500)`, w.user, threshold); err != nil {
		t.Fatal(err)
	}
}
