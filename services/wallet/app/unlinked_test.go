package app_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"

	"github.com/meterflow/meterflow/platform/rpcerr"
	"github.com/meterflow/meterflow/services/wallet/stripeevents"
)

// ledger returns the user's ledger rows, oldest first, as "kind amount".
func (b *bundle) ledger(user string) string {
	b.t.Helper()
	rows, err := b.pool.Query(context.Background(), `SELECT kind, amount_cents FROM transactions WHERE user_id = $1 ORDER BY created_at, id`, user)
	if err != nil {
		b.t.Fatal(err)
	}
	defer rows.Close()
	out := ""
	for rows.Next() {
		var kind string
		var amount int64
		if err := rows.Scan(&kind, &amount); err != nil {
			b.t.Fatal(err)
		}
		out += fmt.Sprintf("[%s %d]", kind, amount)
	}
	return out
}

// counter sums the series of counter name in the wallet's registry whose
// label has value.
func (b *bundle) counter(name, label, value string) float64 {
	b.t.Helper()
	mfs, err := b.app.Registry.Gather()
	if err != nil {
		b.t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label && lp.GetValue() == value {
					sum += m.GetCounter().GetValue()
				}
			}
		}
	}
	return sum
}

// Stripe does not order deliveries: a refund can arrive while the session's
// completion is still in Stripe's retry backoff, before the top-up knows its
// PaymentIntent. The refund finds the top-up through the PaymentIntent's
// metadata (copied onto the charge, or read from Stripe's API), is applied
// once, and the completion then credits once.
func TestRefundBeforeCompletion(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, tc := range []struct {
		name string
		// carried: the charge carries the PaymentIntent's metadata, as Stripe
		// copies it; otherwise the wallet asks Stripe's API.
		carried bool
	}{{"metadata on the charge", true}, {"metadata from Stripe's API", false}} {
		t.Run(tc.name, func(t *testing.T) {
			user := uuid.NewString()
			tu := b.topUp(user, 1000)
			s := session(tu, user)
			md := b.stripe.Pay(tu.GetCheckoutSessionId(), s.PaymentIntentID)
			if md["topup_id"] != tu.GetId() || md["user_id"] != user {
				t.Fatalf("the session asked Stripe for PaymentIntent metadata %v, want topup_id %s and user_id %s", md, tu.GetId(), user)
			}
			charge := stripeevents.Charge{ID: "ch_" + tu.GetId(), PaymentIntentID: s.PaymentIntentID, Amount: 1000, AmountRefunded: 400}
			if tc.carried {
				charge.Metadata = md
			}
			refund := stripeevents.RefundedEvent("", charge)
			b.mustDeliver(refund)
			b.wantBalance(user, -400, 0)
			b.mustDeliver(refund)                                 // the same event again
			b.mustDeliver(stripeevents.RefundedEvent("", charge)) // the same refund, a new event id

			b.mustDeliver(stripeevents.CheckoutSessionEvent("", "checkout.session.completed", s))
			b.mustDeliver(stripeevents.CheckoutSessionEvent("", "checkout.session.async_payment_succeeded", s))
			b.mustDeliver(refund)
			b.wantBalance(user, 600, 0)
			if got := b.ledger(user); got != "[withdrawal -400][deposit 1000]" {
				t.Fatalf("ledger = %s", got)
			}
			// Later refunds now find the linked top-up directly.
			charge.AmountRefunded = 1000
			b.mustDeliver(stripeevents.RefundedEvent("", charge))
			b.wantBalance(user, 0, 0)
			if s := b.topUpStatus(user, tu.GetId()); s != "paid" {
				t.Fatalf("status = %s", s)
			}
		})
	}
	b.verify()
}

func TestLostDisputeBeforeCompletion(t *testing.T) {
	t.Parallel()
	b := setup(t)
	user := uuid.NewString()
	tu := b.topUp(user, 1500)
	s := session(tu, user)
	b.stripe.Pay(tu.GetCheckoutSessionId(), s.PaymentIntentID)
	// A dispute carries none of the PaymentIntent's metadata: the wallet
	// asks Stripe's API.
	lost := stripeevents.DisputeClosedEvent("", "dp_"+tu.GetId(), "ch_1", s.PaymentIntentID, "lost", 1500)
	b.mustDeliver(lost)
	b.mustDeliver(lost)
	b.wantBalance(user, -1500, 0)
	b.mustDeliver(stripeevents.CheckoutSessionEvent("", "checkout.session.completed", s))
	b.mustDeliver(stripeevents.DisputeClosedEvent("", "dp_"+tu.GetId(), "ch_1", s.PaymentIntentID, "lost", 1500)) // same dispute, new event
	b.wantBalance(user, 0, 0)
	if got := b.ledger(user); got != "[chargeback -1500][deposit 1500]" {
		t.Fatalf("ledger = %s", got)
	}
	b.verify()
}

// On a shared Stripe account other integrations' charges are refunded and
// disputed too: their PaymentIntents carry no top-up of ours, so the events
// are acknowledged and change nothing.
func TestRefundsAndDisputesOfOtherChargesAreIgnored(t *testing.T) {
	t.Parallel()
	b := setup(t)
	user := uuid.NewString()
	tu := b.topUp(user, 1000)
	s := session(tu, user)
	b.mustDeliver(stripeevents.CheckoutSessionEvent("", "checkout.session.completed", s))
	other := uuid.NewString()
	otherTU := b.topUp(other, 2000)
	b.stripe.Pay(otherTU.GetCheckoutSessionId(), "pi_"+otherTU.GetId())
	for name, ev := range map[string][]byte{
		// Stripe's PaymentIntent has no metadata (stripe-mock's fixture).
		"refund, PaymentIntent without metadata":  stripeevents.ChargeRefundedEvent("", "ch_x", "pi_someone_else", 5000, 5000),
		"dispute, PaymentIntent without metadata": stripeevents.DisputeClosedEvent("", "dp_x", "ch_x", "pi_someone_else", "lost", 5000),
		"not a PaymentIntent id":                  stripeevents.ChargeRefundedEvent("", "ch_y", "pi_../../v1/balance", 5000, 5000),
		// Metadata from another system that happens to use our key names.
		"another system's topup_id": stripeevents.RefundedEvent("", stripeevents.Charge{ID: "ch_z", PaymentIntentID: "pi_z", Amount: 5000, AmountRefunded: 5000,
			Metadata: map[string]string{"topup_id": "order-17", "user_id": user}}),
		"a top-up this deployment does not have": stripeevents.RefundedEvent("", stripeevents.Charge{ID: "ch_w", PaymentIntentID: "pi_w", Amount: 5000, AmountRefunded: 5000,
			Metadata: map[string]string{"topup_id": uuid.NewString(), "user_id": user}}),
		// Our top-up's id with another user, or our linked top-up claimed
		// by a different PaymentIntent.
		"our top-up, another user": stripeevents.RefundedEvent("", stripeevents.Charge{ID: "ch_v", PaymentIntentID: "pi_v", Amount: 2000, AmountRefunded: 2000,
			Metadata: map[string]string{"topup_id": otherTU.GetId(), "user_id": user}}),
		"our linked top-up, another PaymentIntent": stripeevents.RefundedEvent("", stripeevents.Charge{ID: "ch_u", PaymentIntentID: "pi_u", Amount: 1000, AmountRefunded: 1000,
			Metadata: map[string]string{"topup_id": tu.GetId(), "user_id": user}}),
	} {
		if err := b.deliver(ev); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	b.wantBalance(user, 1000, 0)
	b.wantBalance(other, 0, 0)
	if n := b.count(`SELECT count(*) FROM transactions`); n != 1 {
		t.Fatalf("ledger rows = %d, want the one deposit", n)
	}
	if n := b.count(`SELECT count(*) FROM topups WHERE payment_intent_id IS NOT NULL`); n != 1 {
		t.Fatalf("linked top-ups = %d, want 1", n)
	}
	b.verify()
}

// When Stripe's API cannot say whose PaymentIntent it is, the event is
// refused (5xx at the gateway) so Stripe delivers it again; the retry,
// once the API answers, applies it once.
func TestUnlinkedRefundWhileStripeIsDownIsRetried(t *testing.T) {
	t.Parallel()
	b := setup(t)
	user := uuid.NewString()
	tu := b.topUp(user, 1000)
	s := session(tu, user)
	b.stripe.Pay(tu.GetCheckoutSessionId(), s.PaymentIntentID)
	refund := stripeevents.ChargeRefundedEvent("", "ch_1", s.PaymentIntentID, 1000, 1000)

	b.stripe.SetPaymentIntentsDown(true)
	err := b.deliver(refund)
	wantErr(t, err, codes.Unavailable, rpcerr.ServiceUnavailable)
	b.wantBalance(user, 0, 0)
	if n := b.count(`SELECT count(*) FROM stripe_events`) + b.count(`SELECT count(*) FROM transactions`); n != 0 {
		t.Fatalf("rows written = %d, want 0 (the retry must not count as a duplicate)", n)
	}
	if got := b.counter("wallet_stripe_unlinked_payments_total", "result", "retry"); got != 1 {
		t.Fatalf("retry metric = %v, want 1", got)
	}

	b.stripe.SetPaymentIntentsDown(false)
	b.mustDeliver(refund)
	b.mustDeliver(refund)
	b.mustDeliver(stripeevents.CheckoutSessionEvent("", "checkout.session.completed", s))
	b.wantBalance(user, 0, 0)
	if got := b.ledger(user); got != "[withdrawal -1000][deposit 1000]" {
		t.Fatalf("ledger = %s", got)
	}
	if got := b.counter("wallet_stripe_unlinked_payments_total", "result", "matched"); got != 1 {
		t.Fatalf("matched metric = %v, want 1", got)
	}
	b.verify()
}
