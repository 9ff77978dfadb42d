package drills

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	e2e "github.com/meterflow/meterflow/e2e/stack"
	"github.com/meterflow/meterflow/services/wallet/stripeevents"
)

// TestCommitCut drops the connection at the COMMIT of each money-moving
// transaction in turn — an adjustment, a run's reserve and capture, a
// webhook's credit, a run's insert in the workflow database — so the caller
// cannot know whether it committed. Each answers within its deadline with a
// problem document (or succeeds after the service's own bounded retry); the
// client retries only with its idempotency key; afterwards every operation
// had exactly one effect and the invariants hold.
func TestCommitCut(t *testing.T) {
	s := startStack(t, options{})
	b := newBank(t, s, bankConfig{users: 1})
	u := b.users[0]
	ctx := context.Background()
	cut := func(edge string, skip int64, statements bool) func() int64 {
		name := "cut-" + e2e.RandomHex()
		bud := budget(name)
		bud.skip.Store(skip)
		bud.left.Store(1)
		remove := s.toxic(t, edge, name, "commit_cut", "upstream", map[string]any{"budget": name, "statements": statements})
		return func() int64 { remove(); return bud.cut.Load() }
	}
	// until retries a request with the same idempotency key (bounded) until
	// it is no longer retryable, checking each answer's deadline and shape.
	until := func(what string, send func() response) response {
		t.Helper()
		var r response
		for range 10 {
			start := time.Now()
			r = send()
			if d := time.Since(start); d > 8*time.Second {
				t.Errorf("%s answered after %s", what, d)
			}
			if r.err == nil && r.status >= 400 && !isProblem(r) {
				t.Errorf("%s: %d without a problem document: %s", what, r.status, r.body)
			}
			if !retryable(r) {
				return r
			}
			time.Sleep(200 * time.Millisecond)
		}
		return r
	}
	cuts := int64(0)

	// An adjustment whose COMMIT is cut, then replayed with its key.
	adj := &adjOp{user: u, amount: 5000, reason: "commit-cut " + uuid.NewString(), txIDs: map[string]bool{}}
	key := "adj-" + uuid.NewString()
	done := cut(edgeWalletPG, 0, false)
	first := s.do(ctx, "POST", "/v1/admin/users/"+u.id+"/adjustments", b.admin, map[string]any{"amount_cents": adj.amount, "reason": adj.reason}, map[string]string{"Idempotency-Key": key})
	cuts += done()
	t.Logf("adjustment at a cut COMMIT: %d %s", first.status, first.body)
	if first.status == 500 {
		t.Errorf("a cut COMMIT answered 500 (want 503 service_unavailable): %s", first.body)
	}
	r := until("adjustment replay", func() response {
		return s.do(ctx, "POST", "/v1/admin/users/"+u.id+"/adjustments", b.admin, map[string]any{"amount_cents": adj.amount, "reason": adj.reason}, map[string]string{"Idempotency-Key": key})
	})
	if r.status != 201 {
		t.Fatalf("adjustment replay: %d %s", r.status, r.body)
	}
	adj.ok = true
	adj.txIDs[r.json()["id"].(string)] = true
	b.adjs = append(b.adjs, adj)

	// Runs with their commits cut: a sync run's reserve (the 1st wallet
	// statement, which commits on its own) and capture (the 2nd); an async
	// run's held mark with its queued job (the workflow service's one
	// explicit transaction; its sync path writes single statements) and
	// its reserve.
	for _, c := range []struct {
		edge       string
		skip       int64
		async      bool
		statements bool
	}{{edgeWalletPG, 0, false, true}, {edgeWalletPG, 1, false, true}, {edgeWorkflowPG, 0, true, false}, {edgeWalletPG, 0, true, true}} {
		key := "run-" + uuid.NewString()
		done := cut(c.edge, c.skip, c.statements)
		path := "/v1/workflows/instant/runs"
		if c.async {
			path += "?async=true"
		}
		send := func() response {
			return s.do(ctx, "POST", path, u.token, map[string]any{"input": map[string]any{}}, map[string]string{"Idempotency-Key": key})
		}
		first := send()
		if c.async {
			time.Sleep(time.Second) // the job runs while the toxic is on
		}
		cuts += done()
		if first.status == 500 {
			t.Errorf("a cut COMMIT answered 500: %s", first.body)
		}
		t.Logf("run with COMMIT %d on %s cut: %d %s", c.skip+1, c.edge, first.status, first.body)
		r := until("run replay", send)
		op := &runOp{user: u, slug: "instant", outcome: "error"}
		switch m := r.json(); {
		case r.status == 200:
			op.id, op.outcome = m["id"].(string), m["status"].(string)
		case r.status == 202:
			op.id, op.outcome = m["id"].(string), "queued"
		case r.status == 502:
			op.id, op.outcome = m["run"].(map[string]any)["id"].(string), "failed"
		default:
			t.Errorf("run replay: %d %s", r.status, r.body)
		}
		b.runs = append(b.runs, op)
	}

	// A top-up credited by a webhook whose COMMIT is cut; Stripe retries.
	top := s.mustDo(t, 201, "POST", "/v1/wallet/topups", u.token, map[string]any{"amount_cents": 1000}, map[string]string{"Idempotency-Key": "top-" + uuid.NewString()})
	op := &topUpOp{user: u, id: top["id"].(string), session: top["checkout_session_id"].(string), amount: 1000, pi: "pi_" + uuid.NewString()}
	b.topUps = append(b.topUps, op)
	ev := stripeevents.CheckoutSessionEvent("", "checkout.session.completed", stripeevents.Session{
		ID: op.session, TopUpID: op.id, UserID: u.id, AmountTotal: 1000, Currency: "usd", PaymentStatus: "paid", PaymentIntentID: op.pi})
	done = cut(edgeWalletPG, 0, false)
	b.deliver(ctx, delivery{payload: ev, crediting: true, topUp: op})
	cuts += done()

	quiesce(t, s)
	b.check(t)
	if cuts < 6 {
		t.Errorf("only %d COMMITs were cut", cuts)
	}
	t.Logf("DRILL commit cuts: %d COMMITs cut; %s", cuts, b.summary())
}
