package app_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/meterflow/meterflow/services/wallet/app"
	"github.com/meterflow/meterflow/services/wallet/stripeevents"
)

// A Checkout Session paid in another currency than the top-up's (say Stripe
// converted it for the customer) must not be credited as cents of ours: the
// top-up is parked for an operator, and no later event credits it.
func TestCurrencyMismatchParksTheTopUp(t *testing.T) {
	t.Parallel()
	b := setup(t)
	user := uuid.NewString()
	tu := b.topUp(user, 1000)
	s := session(tu, user)
	eur := s
	eur.Currency, eur.AmountTotal = "eur", 920
	b.mustDeliver(stripeevents.CheckoutSessionEvent("", "checkout.session.completed", eur))
	b.wantBalance(user, 0, 0)
	if got := b.counter("wallet_stripe_events_total", "result", "parked"); got != 1 {
		t.Fatalf("parked events = %v, want 1", got)
	}

	// Nothing credits it afterwards, not even events in the right currency,
	// and refunds or disputes of its payment debit nothing either: the
	// wallet was never credited.
	for _, ev := range [][]byte{
		stripeevents.CheckoutSessionEvent("", "checkout.session.completed", s),
		stripeevents.CheckoutSessionEvent("", "checkout.session.async_payment_succeeded", s),
		stripeevents.CheckoutSessionEvent("", "checkout.session.async_payment_succeeded", eur),
		stripeevents.CheckoutSessionEvent("", "checkout.session.expired", s),
		stripeevents.RefundedEvent("", stripeevents.Charge{ID: "ch_1", PaymentIntentID: s.PaymentIntentID, Amount: 920, AmountRefunded: 920, Currency: "eur"}),
		stripeevents.DisputeClosedEvent("", "dp_1", "ch_1", s.PaymentIntentID, "lost", 920),
	} {
		b.mustDeliver(ev)
	}
	b.wantBalance(user, 0, 0)
	if n := b.count(`SELECT count(*) FROM transactions`); n != 0 {
		t.Fatalf("ledger rows = %d, want 0", n)
	}
	// The owner sees the payment as not credited yet; operators see why.
	if st := b.topUpStatus(user, tu.GetId()); st != "pending" {
		t.Fatalf("the user sees status %s, want pending", st)
	}
	parked, err := app.ParkedTopUps(context.Background(), b.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	if len(parked) != 1 || parked[0].ID.String() != tu.GetId() || parked[0].Status != "parked" || parked[0].ParkedAt.IsZero() ||
		!strings.Contains(parked[0].ParkedReason, "920 eur") || parked[0].Credited || parked[0].PaymentIntentID != s.PaymentIntentID {
		t.Fatalf("parked top-ups = %+v", parked)
	}
	if got := b.counter("wallet_stripe_events_total", "result", "parked"); got != 7 {
		t.Fatalf("parked events = %v, want 7 (the parking and every later event)", got)
	}
	b.verify()
}

// A refund reported in another currency than its top-up's is not debited as
// cents of ours either: the top-up is parked.
func TestRefundInAnotherCurrencyParksTheTopUp(t *testing.T) {
	t.Parallel()
	b := setup(t)
	user := uuid.NewString()
	tu := b.topUp(user, 1000)
	s := session(tu, user)
	b.mustDeliver(stripeevents.CheckoutSessionEvent("", "checkout.session.completed", s))
	b.mustDeliver(stripeevents.RefundedEvent("", stripeevents.Charge{ID: "ch_1", PaymentIntentID: s.PaymentIntentID, Amount: 1000, AmountRefunded: 500, Currency: "gbp"}))
	b.mustDeliver(stripeevents.ChargeRefundedEvent("", "ch_1", s.PaymentIntentID, 1000, 500)) // usd, but the top-up is parked now
	b.wantBalance(user, 1000, 0)
	parked, err := app.ParkedTopUps(context.Background(), b.dbURL)
	if err != nil || len(parked) != 1 || !parked[0].Credited || !strings.Contains(parked[0].ParkedReason, "gbp") {
		t.Fatalf("parked = %+v, %v", parked, err)
	}
	b.verify()
}
