package app_test

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/meterflow/meterflow/services/wallet/app"
	"github.com/meterflow/meterflow/services/wallet/stripeevents"
)

func (b *bundle) reconcile() app.ReconcileReport {
	b.t.Helper()
	rep, err := app.Reconcile(context.Background(), b.cfg, time.Now().Add(-time.Hour), slog.New(slog.NewJSONHandler(io.Discard, nil)))
	if err != nil {
		b.t.Fatalf("Reconcile: %v", err)
	}
	return rep
}

// TestReconcileCreditsAMissedTopUpOnce: a top-up whose webhook never
// arrived is credited by reconciliation, once: running it again, or the
// late webhook arriving after it or at the same time, credits nothing
// more. Events of other integrations are skipped; one that names a
// top-up this database lacks is reported unmatched. Stripe's list is
// paged.
func TestReconcileCreditsAMissedTopUpOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	user := uuid.NewString()
	missed := stripeevents.CheckoutSessionEvent("", "checkout.session.completed", session(b.topUp(user, 1000), user))
	b.stripe.AddEvent(missed)
	for range 120 { // another integration's sessions, on two pages
		b.stripe.AddEvent(stripeevents.CheckoutSessionEvent("", "checkout.session.expired", stripeevents.Session{ID: "cs_other_" + uuid.NewString()}))
	}
	rep := b.reconcile()
	if rep.Seen != 121 || len(rep.Fixed) != 1 || len(rep.Unmatched) != 0 {
		t.Fatalf("first run: seen %d, fixed %v, unmatched %v", rep.Seen, rep.Fixed, rep.Unmatched)
	}
	b.wantBalance(user, 1000, 0)
	if rep := b.reconcile(); len(rep.Fixed) != 0 || len(rep.Unmatched) != 0 {
		t.Fatalf("second run: fixed %v, unmatched %v", rep.Fixed, rep.Unmatched)
	}
	b.mustDeliver(missed) // the late webhook
	b.wantBalance(user, 1000, 0)

	// Reconciliation and the late webhook at the same time.
	late := stripeevents.CheckoutSessionEvent("", "checkout.session.completed", session(b.topUp(user, 500), user))
	b.stripe.AddEvent(late)
	var wg sync.WaitGroup
	wg.Go(func() { b.reconcile() })
	for range 5 {
		wg.Go(func() {
			if err := b.deliver(late); err != nil {
				t.Errorf("webhook: %v", err)
			}
		})
	}
	wg.Wait()
	b.wantBalance(user, 1500, 0)
	if n := b.count("SELECT count(*) FROM transactions WHERE user_id = $1 AND kind = 'deposit'", user); n != 2 {
		t.Fatalf("deposits = %d, want 2", n)
	}

	// A session that names a top-up this database does not have.
	b.stripe.AddEvent(stripeevents.CheckoutSessionEvent("", "checkout.session.completed", stripeevents.Session{
		ID: "cs_lost_" + uuid.NewString(), TopUpID: uuid.NewString(), UserID: user, AmountTotal: 700, Currency: "usd", PaymentStatus: "paid",
	}))
	if rep := b.reconcile(); len(rep.Unmatched) != 1 || len(rep.Fixed) != 0 {
		t.Fatalf("unknown top-up: fixed %v, unmatched %v", rep.Fixed, rep.Unmatched)
	}
	if got := b.metric("wallet_reconcile_fixed_total").GetCounter().GetValue(); got < 1 {
		t.Fatalf("wallet_reconcile_fixed_total = %v", got)
	}
	if got := b.metric("wallet_reconcile_last_unmatched").GetGauge().GetValue(); got != 1 {
		t.Fatalf("wallet_reconcile_last_unmatched = %v", got)
	}
	b.verify()
}

// TestReconcileAppliesMissedAutomaticTopUpsAndDisputes: the events of an
// automatic charge and of a dispute that the webhook missed are applied by
// reconciliation as the webhook would have.
func TestReconcileAppliesMissedAutomaticTopUpsAndDisputes(t *testing.T) {
	t.Parallel()
	b := setup(t, withWorkers(1))
	user := uuid.NewString()
	s := b.paidTopUp(user, 1000)
	b.saveCard(user)
	b.autoTopUp(user, 900, 2000)
	b.run(user, 200)
	b.eventually("the charge is made", func() bool { return len(b.chargesOf(user)) == 1 })
	c := b.chargesOf(user)[0]
	b.stripe.AddEvent(stripeevents.PaymentIntentEvent("", "payment_intent.succeeded", stripeevents.PaymentIntent{ID: c.ID, Amount: c.AmountCents, Metadata: c.Metadata}))
	b.stripe.AddEvent(stripeevents.DisputeEvent("", "charge.dispute.created", "dp_missed", "ch_1", s.PaymentIntentID, "needs_response", 300))
	rep := b.reconcile()
	if len(rep.Fixed) != 2 || len(rep.Unmatched) != 0 {
		t.Fatalf("fixed %v, unmatched %v", rep.Fixed, rep.Unmatched)
	}
	b.wantBalance(user, 2800, 300)
	b.verify()
}
