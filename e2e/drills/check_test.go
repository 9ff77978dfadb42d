package drills

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	wallet "github.com/meterflow/meterflow/services/wallet/app"
)

// overdueAfter is how long past its deadline a run may stay queued or
// running: the settle grace, a few settler passes, and the time the
// workflow's gRPC channel may need to reconnect to a restarted wallet (its
// reconnect backoff grows while the wallet is down; see the crash drill in
// docs/reliability.md).
const overdueAfter = settleGrace + 5*settleInterval + 10*time.Second

// quiesce waits until no run is unsettled in the workflow database and no
// hold is open in the wallet: the settler and the sweeper must get there
// within the longest run deadline plus grace plus a few settle intervals.
// A run still queued or running overdueAfter past its deadline_at is a
// violation.
func quiesce(t testing.TB, s *stack) {
	t.Helper()
	ctx := context.Background()
	wf, err := pgxpool.New(ctx, s.workflowDB)
	if err != nil {
		t.Fatal(err)
	}
	defer wf.Close()
	wa, err := pgxpool.New(ctx, s.walletDB)
	if err != nil {
		t.Fatal(err)
	}
	defer wa.Close()
	deadline := time.Now().Add(asyncWindow + 3*time.Second + settleGrace + 10*settleInterval + 20*time.Second)
	reported := false
	for {
		var unsettled, overdue, open int
		if err := wf.QueryRow(ctx, `SELECT count(*) FILTER (WHERE hold_state IN ('pending','held','capturing','releasing') OR status IN ('queued','running')),
			count(*) FILTER (WHERE status IN ('queued','running') AND deadline_at + make_interval(secs => $1) < now())
			FROM runs`, overdueAfter.Seconds()).Scan(&unsettled, &overdue); err != nil {
			t.Fatal(err)
		}
		if err := wa.QueryRow(ctx, `SELECT count(*) FROM holds WHERE status = 'held'`).Scan(&open); err != nil {
			t.Fatal(err)
		}
		if overdue > 0 && !reported {
			reported = true
			rows, err := wf.Query(ctx, `SELECT id::text, status, hold_state, async, error, now() - deadline_at FROM runs
				WHERE status IN ('queued','running') AND deadline_at + make_interval(secs => $1) < now()`, overdueAfter.Seconds())
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var id, st, hs, msg string
				var async bool
				var late time.Duration
				if err := rows.Scan(&id, &st, &hs, &async, &msg, &late); err != nil {
					t.Fatal(err)
				}
				t.Errorf("run %s (async %v) still %s/%s %s past its deadline (error %q)", id, async, st, hs, late, msg)
			}
			rows.Close()
		}
		if unsettled == 0 && open == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not quiet: %d unsettled runs, %d open holds", unsettled, open)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

type ledgerRow struct {
	kind              string
	amount            int64
	refType, refID    string
	description, user string
}

// check verifies the money invariants against both databases and the
// client-side record of every answer, reporting every violation.
func (b *bank) check(t testing.TB) {
	t.Helper()
	ctx := context.Background()
	for _, v := range b.violations {
		t.Error(v)
	}
	mism, err := wallet.Verify(ctx, b.s.walletDB)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range mism {
		t.Errorf("wallet verify: %+v", m)
	}
	wa, err := pgxpool.New(ctx, b.s.walletDB)
	if err != nil {
		t.Fatal(err)
	}
	defer wa.Close()
	wf, err := pgxpool.New(ctx, b.s.workflowDB)
	if err != nil {
		t.Fatal(err)
	}
	defer wf.Close()

	rows, err := wa.Query(ctx, `SELECT user_id::text, kind, amount_cents, reference_type, reference_id, description FROM transactions`)
	if err != nil {
		t.Fatal(err)
	}
	var ledger []ledgerRow
	for rows.Next() {
		var r ledgerRow
		if err := rows.Scan(&r.user, &r.kind, &r.amount, &r.refType, &r.refID, &r.description); err != nil {
			t.Fatal(err)
		}
		ledger = append(ledger, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	byRef := map[string][]ledgerRow{}
	byDesc := map[string][]ledgerRow{}
	for _, r := range ledger {
		byRef[r.kind+":"+r.refID] = append(byRef[r.kind+":"+r.refID], r)
		if r.kind == "adjustment" {
			byDesc[r.description] = append(byDesc[r.description], r)
		}
	}

	// Accounts: held = 0 once quiet, balance = ledger sum (also in Verify).
	acct := map[string][2]int64{}
	arows, err := wa.Query(ctx, `SELECT user_id::text, balance_cents, held_cents FROM accounts`)
	if err != nil {
		t.Fatal(err)
	}
	for arows.Next() {
		var id string
		var bal, held int64
		if err := arows.Scan(&id, &bal, &held); err != nil {
			t.Fatal(err)
		}
		acct[id] = [2]int64{bal, held}
	}
	if err := arows.Err(); err != nil {
		t.Fatal(err)
	}
	sums := map[string]int64{}
	for _, r := range ledger {
		sums[r.user] += r.amount
	}
	for _, u := range b.users {
		a := acct[u.id]
		if a[0] != sums[u.id] || a[1] != 0 {
			t.Errorf("user %s: balance %d held %d, ledger sum %d", u.id, a[0], a[1], sums[u.id])
		}
		if a[0] < 0 && !u.refunder {
			t.Errorf("user %s without refunds ends at %d", u.id, a[0])
		}
	}

	// Deposits = credited Checkout Sessions; one deposit per top-up at most,
	// exactly one when a crediting event was acknowledged.
	trows, err := wa.Query(ctx, `SELECT id::text, amount_cents, credited_cents, amount_refunded_cents FROM topups`)
	if err != nil {
		t.Fatal(err)
	}
	type topRow struct{ amount, credited, refunded int64 }
	tops := map[string]topRow{}
	for trows.Next() {
		var id string
		var r topRow
		if err := trows.Scan(&id, &r.amount, &r.credited, &r.refunded); err != nil {
			t.Fatal(err)
		}
		tops[id] = r
	}
	if err := trows.Err(); err != nil {
		t.Fatal(err)
	}
	var depositSum, creditedSum int64
	for _, r := range ledger {
		if r.kind == "deposit" {
			depositSum += r.amount
		}
	}
	for id, tr := range tops {
		creditedSum += tr.credited
		deps := byRef["deposit:"+id]
		if len(deps) > 1 || (len(deps) == 1 && (deps[0].amount != tr.amount || tr.credited != tr.amount)) || (len(deps) == 0 && tr.credited != 0) {
			t.Errorf("top-up %s (%+v): deposit rows %+v", id, tr, deps)
		}
	}
	if depositSum != creditedSum {
		t.Errorf("deposits %d != credited top-ups %d", depositSum, creditedSum)
	}
	for _, op := range b.topUps {
		deps := byRef["deposit:"+op.id]
		if op.credited.Load() && len(deps) != 1 {
			t.Errorf("top-up %s: a crediting webhook answered 200 but %d deposit rows", op.id, len(deps))
		}
		wd := byRef["withdrawal:"+op.id]
		switch {
		case op.refundOK.Load():
			if len(wd) != 1 || wd[0].amount != -op.refund {
				t.Errorf("top-up %s refunded %d (acknowledged): withdrawal rows %+v", op.id, op.refund, wd)
			}
		case op.refundErr.Load():
			if len(wd) > 1 {
				t.Errorf("top-up %s: %d withdrawal rows", op.id, len(wd))
			}
		case len(wd) != 0:
			t.Errorf("top-up %s never refunded: withdrawal rows %+v", op.id, wd)
		}
	}

	// Runs: every run settled; succeeded ⇔ charged = fee ⇔ one fee row and a
	// captured hold; failed ⇔ nothing charged and the hold released (or none).
	holds := map[string]string{}
	hrows, err := wa.Query(ctx, `SELECT key, status FROM holds`)
	if err != nil {
		t.Fatal(err)
	}
	for hrows.Next() {
		var k, st string
		if err := hrows.Scan(&k, &st); err != nil {
			t.Fatal(err)
		}
		holds[k] = st
	}
	if err := hrows.Err(); err != nil {
		t.Fatal(err)
	}
	type runRow struct {
		user, status, holdState string
		fee, charged            int64
	}
	runs := map[string]runRow{}
	rrows, err := wf.Query(ctx, `SELECT id::text, user_id, status, hold_state, fee_cents, charged_cents FROM runs`)
	if err != nil {
		t.Fatal(err)
	}
	for rrows.Next() {
		var id string
		var r runRow
		if err := rrows.Scan(&id, &r.user, &r.status, &r.holdState, &r.fee, &r.charged); err != nil {
			t.Fatal(err)
		}
		runs[id] = r
	}
	if err := rrows.Err(); err != nil {
		t.Fatal(err)
	}
	feeByUser := map[string]int64{}
	for id, r := range runs {
		fees := byRef["fee:"+id]
		switch r.status {
		case "succeeded":
			// A succeeded run whose capture was refused (hold expired) is
			// ours to lose: charged 0, no fee row. The drills never get there.
			if r.charged != r.fee || r.holdState != "captured" || len(fees) != 1 || fees[0].amount != -r.fee || holds[id] != "captured" {
				t.Errorf("succeeded run %s %+v: fee rows %+v, hold %q", id, r, fees, holds[id])
			}
		case "failed":
			if r.charged != 0 || len(fees) != 0 || (r.holdState != "released" && r.holdState != "none") ||
				(r.holdState == "released" && holds[id] != "released" && holds[id] != "") || (r.holdState == "none" && holds[id] != "") {
				// released with no hold at all: the reserve never took effect
				// (the wallet answered NotFound to the release).
				t.Errorf("failed run %s %+v: fee rows %+v, hold %q", id, r, fees, holds[id])
			}
		default:
			t.Errorf("run %s left %s", id, r.status)
		}
		feeByUser[r.user] += r.charged
	}
	for _, r := range ledger {
		if r.kind == "fee" {
			feeByUser[r.user] += r.amount // fees are negative: back to zero when they match
			if _, ok := runs[r.refID]; !ok {
				t.Errorf("fee row %+v for no run", r)
			}
		}
	}
	for u, d := range feeByUser {
		if d != 0 {
			t.Errorf("user %s: fees in the ledger differ from succeeded runs × fee by %d", u, d)
		}
	}
	for k, st := range holds {
		if _, ok := runs[k]; !ok {
			t.Errorf("hold %s (%s) belongs to no run", k, st)
		}
	}
	for _, op := range b.runs {
		if op.id == "" {
			continue
		}
		r, ok := runs[op.id]
		switch {
		case !ok:
			t.Errorf("run %s answered %s but is not recorded", op.id, op.outcome)
		case op.outcome == "succeeded" && (r.status != "succeeded" || len(byRef["fee:"+op.id]) != 1):
			t.Errorf("run %s answered succeeded, is %+v", op.id, r)
		case op.outcome == "failed" && (r.status != "failed" || len(byRef["fee:"+op.id]) != 0):
			t.Errorf("run %s answered failed, is %+v", op.id, r)
		}
	}

	// Adjustments: answered 201 → exactly one row (the same one for every
	// replay); only refused → none; errors → at most one.
	for _, op := range b.adjs {
		n := len(byDesc[op.reason])
		switch {
		case op.ok && (n != 1 || len(op.txIDs) != 1):
			t.Errorf("adjustment %q answered 201 (%d distinct ids): %d rows", op.reason, len(op.txIDs), n)
		case !op.ok && op.refused && n != 0:
			t.Errorf("adjustment %q refused: %d rows", op.reason, n)
		case n > 1:
			t.Errorf("adjustment %q: %d rows", op.reason, n)
		}
		if n == 1 && byDesc[op.reason][0].amount != op.amount {
			t.Errorf("adjustment %q: amount %d, sent %d", op.reason, byDesc[op.reason][0].amount, op.amount)
		}
	}
	t.Logf("checked %d ledger rows, %d top-ups, %d runs, %d holds, %d adjustments", len(ledger), len(tops), len(runs), len(holds), len(b.adjs))
}
