package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/meterflow/meterflow/platform/database/dbtest"
	"github.com/meterflow/meterflow/platform/jobs"
	"github.com/meterflow/meterflow/services/wallet/internal/postgres"
	"github.com/meterflow/meterflow/services/wallet/internal/queue"
	"github.com/meterflow/meterflow/services/wallet/internal/wallet"
	"github.com/meterflow/meterflow/services/wallet/migrations"
)

// settleHold is a hold of a settle batch test: its amount, whether it was
// reserved with the user's API key, and how it was settled before the
// batch ("" open, wallet.HoldCaptured, wallet.HoldReleased).
type settleHold struct {
	amount int64
	apiKey bool
	before string
}

// settleStep is one call of a settle batch test: a capture, or a release,
// of the case's hold hold (-1: a key never reserved).
type settleStep struct {
	release bool
	hold    int
	// poison: a capture whose fee the ledger refuses (a positive amount:
	// the wallet package never decides one), through the store.
	poison bool
}

func capt(i int) settleStep { return settleStep{hold: i} }
func rel(i int) settleStep  { return settleStep{release: true, hold: i} }

// settleCase is a batch test: an account with balance and holds, the
// low-balance threshold and the threshold of an automatic top-up whose
// monthly cap is reached (0: none), and the calls, in arrival order.
type settleCase struct {
	name       string
	balance    int64
	holds      []settleHold
	lowBalance int64
	autoTopUp  int64
	steps      []settleStep
}

// TestSettleHoldsAgreesWithOneByOne holds the batched captures and
// releases (settle_holds, migration 00009, and the batch's one crossing
// decision, ADR 0018) against the one-by-one path: each case runs twice on
// accounts set up alike, once one call after the other without batching,
// once with every call queued behind a capture that waits on the account's
// row lock, so that they form batches in arrival order. Every answer
// (hold, status, fee, balance after it, the error), the account, the API
// key month, each hold's status and fee rows, the crossings, the settings'
// flags and the queued emails and events must be the same; `wallet verify`
// must pass.
func TestSettleHoldsAgreesWithOneByOne(t *testing.T) {
	t.Parallel()
	pool, client := settleDB(t)
	many := func(n int, h settleHold) []settleHold { return slices.Repeat([]settleHold{h}, n) }
	tests := []settleCase{
		{name: "captures and releases in order", balance: 1000, holds: []settleHold{{amount: 100}, {amount: 200}, {amount: 300}, {amount: 50}},
			steps: []settleStep{capt(0), rel(1), capt(2), rel(3)}},
		{name: "repeats and conflicts in the batch", balance: 1000, holds: []settleHold{{amount: 10}, {amount: 20}, {amount: 30}},
			steps: []settleStep{capt(0), capt(0), rel(0), rel(1), rel(1), capt(1), capt(2), capt(0)}},
		{name: "holds settled before the batch", balance: 1000,
			holds: []settleHold{{amount: 10, before: wallet.HoldCaptured}, {amount: 20, before: wallet.HoldReleased}, {amount: 30}},
			steps: []settleStep{capt(0), rel(0), rel(1), capt(1), capt(2)}},
		{name: "keys never reserved", balance: 100, holds: []settleHold{{amount: 10}, {amount: 20}},
			steps: []settleStep{capt(-1), capt(0), rel(-1), rel(1)}},
		{name: "API key months", balance: 1000,
			holds: []settleHold{{amount: 10, apiKey: true}, {amount: 20, apiKey: true}, {amount: 30}, {amount: 40, apiKey: true}, {amount: 5, apiKey: true, before: wallet.HoldReleased}},
			steps: []settleStep{rel(0), capt(1), rel(2), capt(3), rel(3), rel(4), capt(0)}},
		{name: "the whole balance", balance: 101, holds: []settleHold{{amount: 60}, {amount: 40}},
			steps: []settleStep{capt(0), rel(1), capt(1)}},
		{name: "low balance crossed by the first capture", balance: 100, lowBalance: 50,
			holds: []settleHold{{amount: 30}, {amount: 30}, {amount: 30}}, steps: []settleStep{rel(0), capt(1), capt(2)}},
		{name: "a release after the crossing capture does not undo it", balance: 100, lowBalance: 20,
			holds: []settleHold{{amount: 30}, {amount: 30}, {amount: 30}}, steps: []settleStep{capt(1), rel(0), capt(2)}},
		{name: "a release before the first capture lifts it over the threshold", balance: 100, lowBalance: 20,
			holds: []settleHold{{amount: 30}, {amount: 30}, {amount: 30}}, steps: []settleStep{rel(0), capt(1), capt(2)}},
		{name: "auto top-up capped and low balance", balance: 100, lowBalance: 50, autoTopUp: 40,
			holds: []settleHold{{amount: 30}, {amount: 40}, {amount: 20}}, steps: []settleStep{capt(0), rel(2), capt(1)}},
		{name: "only releases", balance: 100, lowBalance: 50, holds: many(4, settleHold{amount: 20}),
			steps: []settleStep{rel(0), rel(1), rel(2), rel(3)}},
		{name: "forty settlements", balance: 2000, lowBalance: 500, holds: many(40, settleHold{amount: 45, apiKey: true}),
			steps: func() []settleStep {
				var out []settleStep
				for i := range 40 {
					out = append(out, settleStep{release: i%3 == 0, hold: i})
				}
				return out
			}()},
	}
	runSettleCases(t, pool, client, tests, false)
}

// TestSettleBatchFallsBackOneByOne: a capture that fails the whole batch's
// statement makes the batch settle its holds one by one: the bad capture
// gets its own error, the others their answers, as one by one.
func TestSettleBatchFallsBackOneByOne(t *testing.T) {
	t.Parallel()
	pool, client := settleDB(t)
	poisoned := settleStep{hold: 1, poison: true}
	tests := []settleCase{
		{name: "a poisoned capture among others", balance: 1000, lowBalance: 950,
			holds: []settleHold{{amount: 10}, {amount: 20}, {amount: 30}, {amount: 40, apiKey: true}},
			steps: []settleStep{capt(0), poisoned, rel(2), rel(3), capt(1)}},
		{name: "a poisoned capture first", balance: 1000, holds: []settleHold{{amount: 10}, {amount: 20}},
			steps: []settleStep{poisoned, capt(0), rel(1)}},
	}
	runSettleCases(t, pool, client, tests, true)
}

// settleDB is a test database with River's tables and an insert-only
// River client, for the crossings' emails and events.
func settleDB(t *testing.T) (*pgxpool.Pool, postgres.Jobs) {
	t.Helper()
	pool, _ := dbtest.New(t, migrations.FS)
	if err := jobs.Migrate(context.Background(), pool, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatal(err)
	}
	client, err := queue.NewClient(pool, &queue.AutoTopUpWorker{}, queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return pool, client
}

// runSettleCases runs each case one by one and batched and compares them;
// fallBack: a batch must have fallen back to one by one.
func runSettleCases(t *testing.T, pool *pgxpool.Pool, client postgres.Jobs, tests []settleCase, fallBack bool) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			one := newSettleWorld(t, pool, client, tc, 1)
			batched := newSettleWorld(t, pool, client, tc, 64)
			wantOne := one.runOneByOne(t)
			got, queued, sizes := batched.runBatched(t)
			if queued > 1 && !slices.ContainsFunc(sizes, func(n int) bool { return n > 1 || n < -1 }) {
				t.Errorf("batch sizes %v: the %d calls queued did not share a transaction", sizes, queued)
			}
			if fellBack := slices.ContainsFunc(sizes, func(n int) bool { return n < 0 }); fellBack != fallBack {
				t.Errorf("batch sizes %v: fell back %v, want %v", sizes, fellBack, fallBack)
			}
			for i := range tc.steps {
				if got[i] != wantOne[i] {
					t.Errorf("call %d (%+v) answered %+v, one by one %+v", i, tc.steps[i], got[i], wantOne[i])
				}
			}
			if g, w := batched.state(t), one.state(t); !equalStates(g, w) {
				t.Errorf("after the batch:\n %+v\none by one:\n %+v", g, w)
			}
			wantVerified(t, batched.store)
		})
	}
}

// settleWorld is one run of a settleCase: its user, holds and service.
type settleWorld struct {
	ctx   context.Context
	pool  *pgxpool.Pool
	store *postgres.Store
	svc   *wallet.Service
	tc    settleCase
	user  uuid.UUID
	keys  []string
	ids   map[uuid.UUID]int
	sizes chan int
}

func newSettleWorld(t *testing.T, pool *pgxpool.Pool, client postgres.Jobs, tc settleCase, max int) *settleWorld {
	t.Helper()
	w := &settleWorld{ctx: context.Background(), pool: pool, store: postgres.New(pool, client), tc: tc, user: uuid.New(),
		ids: map[uuid.UUID]int{}, sizes: make(chan int, 1000)}
	w.store.BatchSettlements(postgres.Batches{Max: max, Observe: func(size int, fellBack bool) {
		if fellBack {
			size = -size
		}
		w.sizes <- size
	}})
	w.svc = wallet.NewService(wallet.Config{Store: w.store, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Currency: "usd", HoldDefaultTTL: time.Hour, HoldMaxTTL: 24 * time.Hour,
		PortalURL: "http://localhost"})
	seed(t, w.store, w.user, tc.balance)
	apiKey := uuid.New()
	for i, h := range tc.holds {
		req := wallet.ReserveRequest{Key: fmt.Sprintf("%s-%d", w.user, i), UserID: w.user, AmountCents: h.amount, Description: fmt.Sprintf("run %d", i),
			ReferenceType: "run", ReferenceID: fmt.Sprint(i)}
		if h.apiKey {
			req.APIKeyID = apiKey
		}
		hold, err := w.svc.Reserve(w.ctx, req)
		if err != nil {
			t.Fatalf("reserve %d: %v", i, err)
		}
		w.keys, w.ids[hold.ID] = append(w.keys, req.Key), i
		switch h.before {
		case wallet.HoldCaptured:
			_, _, err = w.svc.Capture(w.ctx, req.Key)
		case wallet.HoldReleased:
			_, err = w.svc.Release(w.ctx, req.Key)
		}
		if err != nil {
			t.Fatalf("settle %d before: %v", i, err)
		}
	}
	if _, err := w.svc.Reserve(w.ctx, wallet.ReserveRequest{Key: w.user.String() + "-gate", UserID: w.user, AmountCents: 1}); err != nil {
		t.Fatal(err)
	}
	if tc.lowBalance > 0 || tc.autoTopUp > 0 {
		// The automatic top-up of 500 cents passes its monthly cap of 100:
		// its crossing is capped, nothing is charged.
		if _, err := pool.Exec(w.ctx, `INSERT INTO wallet_settings (user_id, low_balance_threshold_cents, auto_topup_enabled, auto_topup_threshold_cents,
			auto_topup_amount_cents, auto_topup_monthly_cap_cents, payment_method_id) VALUES ($1, nullif($2, 0), $3 > 0, $3, 500, 100, 'pm_card_visa')`,
			w.user, tc.lowBalance, tc.autoTopUp); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

// settleAnswer is what a call answered, in terms both runs share.
type settleAnswer struct {
	err             string
	hold            int
	status          string
	feeAmount       int64
	feeBalanceAfter int64
	feeDescription  string
	// feeIsTheRow: the fee answered is the hold's one fee row.
	feeIsTheRow bool
}

func (w *settleWorld) call(s settleStep) settleAnswer {
	key := w.user.String() + "-never"
	if s.hold >= 0 {
		key = w.keys[s.hold]
	}
	var (
		h   wallet.Hold
		fee wallet.Transaction
		err error
	)
	switch {
	case s.poison:
		var res wallet.CaptureResult
		res, err = w.store.CaptureHold(w.ctx, key, func(h wallet.Hold) (wallet.Settlement, error) {
			return wallet.Settlement{Apply: h.Status == wallet.HoldHeld,
				Fee: wallet.LedgerEntry{ID: uuid.New(), Kind: wallet.KindFee, AmountCents: h.AmountCents, SourceKey: "fee:" + h.ID.String()}}, nil
		})
		h, fee = res.Hold, res.Fee
	case s.release:
		h, err = w.svc.Release(w.ctx, key)
	default:
		h, fee, err = w.svc.Capture(w.ctx, key)
	}
	switch {
	case errors.Is(err, wallet.ErrHoldConflict):
		return settleAnswer{err: "conflict"}
	case errors.Is(err, wallet.ErrNotFound):
		return settleAnswer{err: "not found"}
	case err != nil:
		return settleAnswer{err: err.Error()}
	}
	a := settleAnswer{hold: w.ids[h.ID], status: h.Status, feeAmount: fee.AmountCents, feeBalanceAfter: fee.BalanceAfterCents, feeDescription: fee.Description}
	if !s.release {
		var id uuid.UUID
		if err := w.pool.QueryRow(w.ctx, `SELECT id FROM transactions WHERE source_key = $1`, "fee:"+h.ID.String()).Scan(&id); err != nil {
			return settleAnswer{err: "the fee row: " + err.Error()}
		}
		a.feeIsTheRow = id == fee.ID
	}
	return a
}

// runOneByOne releases the gate hold, then makes the calls one after the
// other.
func (w *settleWorld) runOneByOne(t *testing.T) []settleAnswer {
	t.Helper()
	if _, err := w.svc.Release(w.ctx, w.user.String()+"-gate"); err != nil {
		t.Fatal(err)
	}
	out := make([]settleAnswer, len(w.tc.steps))
	for i, s := range w.tc.steps {
		out[i] = w.call(s)
	}
	return out
}

// runBatched releases the gate hold while another transaction holds the
// account's row, so that the release waits; the calls are made one after
// the other, each once the previous one is queued behind it (or answered
// without the account: a repeat, a conflict, not found), then the row is
// let go. It returns the answers, how many calls queued and the batch
// sizes seen (negative: a batch that fell back to one by one).
func (w *settleWorld) runBatched(t *testing.T) ([]settleAnswer, int, []int) {
	t.Helper()
	tx, err := w.pool.Begin(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(w.ctx) }()
	if _, err := tx.Exec(w.ctx, `SELECT 1 FROM accounts WHERE user_id = $1 FOR UPDATE`, w.user); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		if _, err := w.svc.Release(w.ctx, w.user.String()+"-gate"); err != nil {
			t.Errorf("gate: %v", err)
		}
	})
	waitFor(t, "the gate release to wait on the account", func() bool {
		var n int
		err := w.pool.QueryRow(w.ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&n)
		return err == nil && n > 0
	})
	out := make([]settleAnswer, len(w.tc.steps))
	queued := 0
	for i, s := range w.tc.steps {
		queued = w.store.SettlesQueued(w.user)
		done := make(chan struct{})
		wg.Go(func() {
			defer close(done)
			out[i] = w.call(s)
		})
		waitFor(t, fmt.Sprintf("call %d to queue or answer", i), func() bool {
			select {
			case <-done:
				return true
			default:
				return w.store.SettlesQueued(w.user) > queued
			}
		})
	}
	queued = w.store.SettlesQueued(w.user)
	if err := tx.Rollback(w.ctx); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(w.sizes)
	var sizes []int
	for n := range w.sizes {
		sizes = append(sizes, n)
	}
	return out, queued, sizes
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// settleState is what a run left, in terms both runs share.
type settleState struct {
	balance, held, keySpent int64
	statuses                []string
	fees                    []int
	crossings               []string
	settings                string
	jobs                    []string
}

func (w *settleWorld) state(t *testing.T) settleState {
	t.Helper()
	var st settleState
	q := func(sql string, args ...any) []string {
		rows, err := w.pool.Query(w.ctx, sql, args...)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			out = append(out, s)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	if err := w.pool.QueryRow(w.ctx, `SELECT balance_cents, held_cents, (SELECT coalesce(sum(spent_cents), 0) FROM api_key_month_spend WHERE user_id = $1)::bigint
		FROM accounts WHERE user_id = $1`, w.user).Scan(&st.balance, &st.held, &st.keySpent); err != nil {
		t.Fatal(err)
	}
	for _, k := range w.keys {
		var status string
		var fees int
		if err := w.pool.QueryRow(w.ctx, `SELECT h.status, (SELECT count(*) FROM transactions t WHERE t.source_key = 'fee:' || h.id) FROM holds h WHERE h.key = $1`,
			k).Scan(&status, &fees); err != nil {
			t.Fatal(err)
		}
		st.statuses, st.fees = append(st.statuses, status), append(st.fees, fees)
	}
	// The holds' keys without their user's part.
	st.crossings = q(`SELECT c.kind || ' ' || c.outcome || ' ' || replace(h.key, $2, '') || ' ' || c.threshold_cents || ' ' || c.available_cents
		FROM balance_crossings c JOIN holds h ON h.id = c.hold_id WHERE c.user_id = $1 ORDER BY c.created_at`, w.user, w.user.String())
	st.settings = fmt.Sprint(q(`SELECT low_balance_armed || ' ' || auto_topup_armed || ' ' || coalesce(auto_topup_last_error, '') FROM wallet_settings WHERE user_id = $1`, w.user))
	st.jobs = q(`SELECT kind || ' ' || coalesce(args->>'type', '') || ' ' || CASE WHEN jsonb_typeof(args->'data') = 'string'
		THEN convert_from(decode(args->>'data', 'base64'), 'UTF8') ELSE coalesce(args->'data', 'null')::text END
		FROM river_job WHERE args::text LIKE '%' || $1 || '%' ORDER BY id`, w.user.String())
	return st
}

func equalStates(a, b settleState) bool {
	return a.balance == b.balance && a.held == b.held && a.keySpent == b.keySpent && slices.Equal(a.statuses, b.statuses) &&
		slices.Equal(a.fees, b.fees) && slices.Equal(a.crossings, b.crossings) && a.settings == b.settings && slices.Equal(a.jobs, b.jobs)
}
