package postgres_test

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestSettingsCreatedDuringASettlement: settings that commit while a
// capture of a user who had none runs (after it read that there were none,
// before its statement locks the hold) are seen as the transaction path
// sees them: the one statement refuses (SQLSTATE MF003, rolled back) and
// the capture is made in a transaction that decides the crossing. Each
// case runs with the store's defaults and with every capture in a
// transaction (the path before ADR 0022), one by one and batched; the
// answers, every row and the crossing written must be the same.
func TestSettingsCreatedDuringASettlement(t *testing.T) {
	t.Parallel()
	pool, client := settleDB(t)
	tc := settleCase{name: "settings created during the first capture", balance: 100,
		holds: []settleHold{{amount: 30}, {amount: 30}, {amount: 30}}, steps: []settleStep{capt(0), rel(1), capt(2)}}
	for _, max := range []int{1, 64} {
		t.Run(fmt.Sprintf("max=%d", max), func(t *testing.T) {
			alone := newSettleWorld(t, pool, client, tc, max)
			inTx := newSettleWorld(t, pool, client, tc, max)
			inTx.store.SettleInTransactions()
			got, want := alone.runSettingsRace(t, max > 1, true), inTx.runSettingsRace(t, max > 1, false)
			for i := range tc.steps {
				if got[i] != want[i] {
					t.Errorf("call %d (%+v) answered %+v, in a transaction %+v", i, tc.steps[i], got[i], want[i])
				}
			}
			gs, ws := alone.state(t), inTx.state(t)
			if !equalStates(gs, ws) {
				t.Errorf("one statement:\n %+v\nin transactions:\n %+v", gs, ws)
			}
			if g, w := alone.rows(t), inTx.rows(t); !slices.Equal(g, w) {
				t.Errorf("rows, one statement:\n %q\nin transactions:\n %q", g, w)
			}
			// Available after the first capture: 70 - 60 held, under 1,000.
			if wantCrossings := []string{"low_balance notified -0 1000 10"}; !slices.Equal(gs.crossings, wantCrossings) {
				t.Errorf("crossings %q, want %q", gs.crossings, wantCrossings)
			}
			wantVerified(t, alone.store)
		})
	}
}

// runSettingsRace makes the case's calls (batched: queued behind the
// account's row, as runBatched does) while another transaction holds the
// first call's hold; once a settlement waits on it (in one statement,
// alone, or in a transaction), the user's settings are created (a
// low-balance threshold of 1,000 cents) and the hold let go.
func (w *settleWorld) runSettingsRace(t *testing.T, batched, alone bool) []settleAnswer {
	t.Helper()
	holdTx := w.lockRow(t, `SELECT 1 FROM holds WHERE key = $1 FOR UPDATE`, w.keys[w.tc.steps[0].hold])
	out := make([]settleAnswer, len(w.tc.steps))
	var wg sync.WaitGroup
	if batched {
		acctTx := w.lockRow(t, `SELECT 1 FROM accounts WHERE user_id = $1 FOR UPDATE`, w.user)
		gate := make(chan struct{})
		wg.Go(func() {
			defer close(gate)
			if _, err := w.svc.Release(w.ctx, w.user.String()+"-gate"); err != nil {
				t.Errorf("gate: %v", err)
			}
		})
		w.waitLockWaits(t, "the gate release to wait on the account")
		for i, s := range w.tc.steps {
			queued := w.store.SettlesQueued(w.user)
			wg.Go(func() { out[i] = w.call(s) })
			waitFor(t, fmt.Sprintf("call %d to queue", i), func() bool { return w.store.SettlesQueued(w.user) > queued })
		}
		if err := acctTx.Rollback(w.ctx); err != nil {
			t.Fatal(err)
		}
		<-gate
	} else {
		if _, err := w.svc.Release(w.ctx, w.user.String()+"-gate"); err != nil {
			t.Fatal(err)
		}
		wg.Go(func() { out[0] = w.call(w.tc.steps[0]) })
	}
	w.waitLockWaits(t, "a settlement to wait on the hold")
	var waiting string
	if err := w.pool.QueryRow(w.ctx, `SELECT string_agg(query, ' ; ') FROM pg_stat_activity
		WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting); err != nil {
		t.Fatal(err)
	}
	if isAlone := strings.Contains(waiting, "_alone("); isAlone != alone {
		t.Errorf("the settlement waiting on the hold runs %q, want one statement: %v", waiting, alone)
	}
	insertSettings(t, w, 1000)
	if err := holdTx.Rollback(w.ctx); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if !batched {
		for i, s := range w.tc.steps[1:] {
			out[i+1] = w.call(s)
		}
	}
	return out
}

// lockRow begins a transaction that locks the row sql selects; it is
// rolled back at the end of the test if not before.
func (w *settleWorld) lockRow(t *testing.T, sql string, arg any) pgx.Tx {
	t.Helper()
	tx, err := w.pool.Begin(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tx.Rollback(w.ctx) })
	if _, err := tx.Exec(w.ctx, sql, arg); err != nil {
		t.Fatal(err)
	}
	return tx
}

// waitLockWaits waits until a session of the test database waits on a
// row lock.
func (w *settleWorld) waitLockWaits(t *testing.T, what string) {
	t.Helper()
	waitFor(t, what, func() bool {
		var n int
		err := w.pool.QueryRow(w.ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&n)
		return err == nil && n > 0
	})
}
