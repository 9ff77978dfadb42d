package app_test

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"

	"github.com/meterflow/meterflow/platform/rpcerr"
	walletv1 "github.com/meterflow/meterflow/proto/gen/meterflow/wallet/v1"
	"github.com/meterflow/meterflow/services/wallet/stripeevents"
)

// topUp creates a top-up for user through the API (and stripe-mock).
func (b *bundle) topUp(user string, amount int64) *walletv1.TopUp {
	b.t.Helper()
	resp, err := b.gateway.CreateTopUp(b.as(user, false), &walletv1.CreateTopUpRequest{AmountCents: amount})
	if err != nil {
		b.t.Fatalf("CreateTopUp: %v", err)
	}
	return resp.GetTopUp()
}

// session describes t as Stripe would in its events.
func session(t *walletv1.TopUp, user string) stripeevents.Session {
	return stripeevents.Session{
		ID: t.GetCheckoutSessionId(), TopUpID: t.GetId(), UserID: user, AmountTotal: t.GetAmountCents(),
		Currency: "usd", PaymentStatus: "paid", PaymentIntentID: "pi_" + t.GetId(),
	}
}

// deliver sends payload signed with the webhook secret, as the gateway does.
func (b *bundle) deliver(payload []byte) error {
	_, err := b.gateway.HandleStripeEvent(context.Background(), &walletv1.HandleStripeEventRequest{
		Payload: payload, Signature: stripeevents.Sign(payload, webhookSecret, time.Now()),
	})
	return err
}

func (b *bundle) mustDeliver(payload []byte) {
	b.t.Helper()
	if err := b.deliver(payload); err != nil {
		b.t.Fatalf("HandleStripeEvent: %v", err)
	}
}

func (b *bundle) topUpStatus(user, id string) string {
	b.t.Helper()
	resp, err := b.gateway.GetTopUp(b.as(user, false), &walletv1.GetTopUpRequest{Id: id})
	if err != nil {
		b.t.Fatalf("GetTopUp: %v", err)
	}
	return resp.GetTopUp().GetStatus()
}

func TestSameEventFiftyTimesConcurrentlyCreditsOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	user := uuid.NewString()
	tu := b.topUp(user, 2500)
	if tu.GetStatus() != "pending" || tu.GetCheckoutSessionId() == "" || tu.GetCheckoutUrl() == "" {
		t.Fatalf("top-up = %v", tu)
	}
	ev := stripeevents.CheckoutSessionEvent("", "checkout.session.completed", session(tu, user))
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if err := b.deliver(ev); err != nil {
				t.Errorf("delivery: %v", err)
			}
		})
	}
	wg.Wait()
	b.wantBalance(user, 2500, 0)
	if n := b.count(`SELECT count(*) FROM transactions WHERE kind = 'deposit'`); n != 1 {
		t.Fatalf("deposits = %d, want 1", n)
	}
	if s := b.topUpStatus(user, tu.GetId()); s != "paid" {
		t.Fatalf("status = %s", s)
	}
	txs, err := b.gateway.ListTransactions(b.as(user, false), &walletv1.ListTransactionsRequest{})
	if err != nil || len(txs.GetTransactions()) != 1 {
		t.Fatalf("transactions = %v, %v", txs, err)
	}
	tx := txs.GetTransactions()[0]
	if tx.GetKind() != "deposit" || tx.GetAmountCents() != 2500 || tx.GetBalanceAfterCents() != 2500 || tx.GetReferenceType() != "topup" || tx.GetReferenceId() != tu.GetId() {
		t.Fatalf("deposit = %v", tx)
	}
	b.verify()
}

func TestCompletedAndAsyncSucceededCreditOnceInEitherOrder(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, order := range [][]string{
		{"checkout.session.completed", "checkout.session.async_payment_succeeded"},
		{"checkout.session.async_payment_succeeded", "checkout.session.completed"},
	} {
		user := uuid.NewString()
		tu := b.topUp(user, 1000)
		for _, typ := range order {
			b.mustDeliver(stripeevents.CheckoutSessionEvent("", typ, session(tu, user)))
			b.mustDeliver(stripeevents.CheckoutSessionEvent("", typ, session(tu, user))) // a second event id, same meaning
		}
		b.wantBalance(user, 1000, 0)
	}
	if n := b.count(`SELECT count(*) FROM transactions WHERE kind = 'deposit'`); n != 2 {
		t.Fatalf("deposits = %d, want 2", n)
	}
	b.verify()
}

func TestAsyncPaymentCreditsOnlyWhenItSucceeds(t *testing.T) {
	t.Parallel()
	b := setup(t)
	user := uuid.NewString()
	// Completed but unpaid (a bank debit still processing): nothing yet.
	slow := b.topUp(user, 700)
	unpaid := session(slow, user)
	unpaid.PaymentStatus = "unpaid"
	b.mustDeliver(stripeevents.CheckoutSessionEvent("", "checkout.session.completed", unpaid))
	b.wantBalance(user, 0, 0)
	if s := b.topUpStatus(user, slow.GetId()); s != "pending" {
		t.Fatalf("status = %s", s)
	}
	b.mustDeliver(stripeevents.CheckoutSessionEvent("", "checkout.session.async_payment_succeeded", session(slow, user)))
	b.wantBalance(user, 700, 0)

	failed := b.topUp(user, 800)
	b.mustDeliver(stripeevents.CheckoutSessionEvent("", "checkout.session.async_payment_failed", session(failed, user)))
	expired := b.topUp(user, 900)
	b.mustDeliver(stripeevents.CheckoutSessionEvent("", "checkout.session.expired", session(expired, user)))
	// A late expiry never downgrades a paid top-up.
	b.mustDeliver(stripeevents.CheckoutSessionEvent("", "checkout.session.expired", session(slow, user)))
	for id, want := range map[string]string{slow.GetId(): "paid", failed.GetId(): "failed", expired.GetId(): "expired"} {
		if got := b.topUpStatus(user, id); got != want {
			t.Fatalf("top-up %s status = %s, want %s", id, got, want)
		}
	}
	b.wantBalance(user, 700, 0)
	b.verify()
}

func TestAmountMismatchCreditsWhatStripeReports(t *testing.T) {
	t.Parallel()
	b := setup(t)
	user := uuid.NewString()
	tu := b.topUp(user, 1000)
	s := session(tu, user)
	s.AmountTotal = 900
	b.mustDeliver(stripeevents.CheckoutSessionEvent("", "checkout.session.completed", s))
	b.wantBalance(user, 900, 0)
	b.verify()
}

func TestBadSignaturesWriteNothing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	user := uuid.NewString()
	tu := b.topUp(user, 1000)
	ev := stripeevents.CheckoutSessionEvent("", "checkout.session.completed", session(tu, user))
	tampered := bytes.Replace(ev, []byte(`"amount_total":1000`), []byte(`"amount_total":99999`), 1)
	if bytes.Equal(tampered, ev) {
		t.Fatal("tampering did not change the payload")
	}
	tests := []struct {
		name      string
		payload   []byte
		signature string
	}{
		{"tampered body", tampered, stripeevents.Sign(ev, webhookSecret, time.Now())},
		{"wrong secret", ev, stripeevents.Sign(ev, "whsec_someone_else", time.Now())},
		{"missing header", ev, ""},
		{"garbage header", ev, "t=abc,v1=zz"},
		{"ten minutes old", ev, stripeevents.Sign(ev, webhookSecret, time.Now().Add(-10*time.Minute))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := b.gateway.HandleStripeEvent(context.Background(), &walletv1.HandleStripeEventRequest{Payload: tc.payload, Signature: tc.signature})
			wantErr(t, err, codes.InvalidArgument, rpcerr.InvalidSignature)
		})
	}
	b.wantBalance(user, 0, 0)
	if n := b.count(`SELECT count(*) FROM stripe_events`); n != 0 {
		t.Fatalf("stripe_events rows = %d, want 0", n)
	}
	if s := b.topUpStatus(user, tu.GetId()); s != "pending" {
		t.Fatalf("status = %s", s)
	}
}

func TestUnknownSessionsAndTypesAreAcknowledged(t *testing.T) {
	t.Parallel()
	b := setup(t)
	user := uuid.NewString()
	tu := b.topUp(user, 1000)
	unknown := session(tu, user)
	unknown.ID = "cs_test_not_ours"
	b.mustDeliver(stripeevents.CheckoutSessionEvent("", "checkout.session.completed", unknown))
	b.mustDeliver(stripeevents.ChargeRefundedEvent("", "ch_x", "pi_not_ours", 1000, 1000))
	b.mustDeliver(stripeevents.DisputeClosedEvent("", "dp_x", "ch_x", "pi_not_ours", "lost", 1000))
	other := []byte(`{"id":"evt_other","type":"customer.created","data":{"object":{"id":"cus_1"}}}`)
	b.mustDeliver(other)
	b.wantBalance(user, 0, 0)
	if n := b.count(`SELECT count(*) FROM stripe_events`) + b.count(`SELECT count(*) FROM transactions`); n != 0 {
		t.Fatalf("rows written = %d, want 0", n)
	}
	// A signed event without the fields its handling needs is refused, loudly.
	err := b.deliver([]byte(`{"id":"evt_bad","type":"charge.refunded","data":{"object":{"id":"ch_1"}}}`))
	wantErr(t, err, codes.InvalidArgument, rpcerr.ValidationFailed)
}

func TestOneUsersSessionNeverCreditsAnother(t *testing.T) {
	t.Parallel()
	b := setup(t)
	alice, bob := uuid.NewString(), uuid.NewString()
	aliceTU := b.topUp(alice, 1000)
	bobTU := b.topUp(bob, 5000)

	// Alice's session, but claiming to be for Bob.
	forged := session(aliceTU, alice)
	forged.ClientReferenceID = &bob
	b.mustDeliver(stripeevents.CheckoutSessionEvent("", "checkout.session.completed", forged))
	// Alice's session with Bob's top-up id in the metadata.
	swapped := session(aliceTU, alice)
	swapped.TopUpID = bobTU.GetId()
	b.mustDeliver(stripeevents.CheckoutSessionEvent("", "checkout.session.completed", swapped))
	// Bob's top-up id and user on Alice's session.
	mixed := session(bobTU, bob)
	mixed.ID = aliceTU.GetCheckoutSessionId()
	b.mustDeliver(stripeevents.CheckoutSessionEvent("", "checkout.session.completed", mixed))
	b.wantBalance(alice, 0, 0)
	b.wantBalance(bob, 0, 0)

	// Alice's real event credits Alice only.
	b.mustDeliver(stripeevents.CheckoutSessionEvent("", "checkout.session.completed", session(aliceTU, alice)))
	b.wantBalance(alice, 1000, 0)
	b.wantBalance(bob, 0, 0)
	// Bob cannot even see Alice's top-up.
	_, err := b.gateway.GetTopUp(b.as(bob, false), &walletv1.GetTopUpRequest{Id: aliceTU.GetId()})
	wantErr(t, err, codes.NotFound, rpcerr.NotFound)
	b.verify()
}

func TestRefundsDebitOnlyTheIncrements(t *testing.T) {
	t.Parallel()
	b := setup(t)
	user := uuid.NewString()
	tu := b.topUp(user, 1000)
	s := session(tu, user)
	b.mustDeliver(stripeevents.CheckoutSessionEvent("", "checkout.session.completed", s))
	b.wantBalance(user, 1000, 0)

	refund := func(cumulative int64) []byte {
		return stripeevents.ChargeRefundedEvent("", "ch_1", s.PaymentIntentID, 1000, cumulative)
	}
	b.mustDeliver(refund(300))
	b.mustDeliver(refund(500))
	b.mustDeliver(refund(1000))
	b.wantBalance(user, 0, 0)
	rows, err := b.pool.Query(context.Background(), `SELECT amount_cents FROM transactions WHERE kind = 'withdrawal' ORDER BY created_at`)
	if err != nil {
		t.Fatal(err)
	}
	var got []int64
	for rows.Next() {
		var a int64
		if err := rows.Scan(&a); err != nil {
			t.Fatal(err)
		}
		got = append(got, a)
	}
	if fmt.Sprint(got) != "[-300 -200 -500]" {
		t.Fatalf("withdrawals = %v, want [-300 -200 -500]", got)
	}
	// Late, repeated and out-of-order copies change nothing.
	b.mustDeliver(refund(500))
	b.mustDeliver(refund(300))
	b.mustDeliver(refund(1000))
	b.wantBalance(user, 0, 0)
	b.verify()
}

func TestRefundsOutOfOrderAndDuplicated(t *testing.T) {
	t.Parallel()
	b := setup(t)
	user := uuid.NewString()
	tu := b.topUp(user, 1000)
	s := session(tu, user)
	b.mustDeliver(stripeevents.CheckoutSessionEvent("", "checkout.session.completed", s))
	events := map[int64][]byte{}
	for _, c := range []int64{300, 500, 1000} {
		events[c] = stripeevents.ChargeRefundedEvent("", "ch_1", s.PaymentIntentID, 1000, c)
	}
	var wg sync.WaitGroup
	for _, c := range []int64{1000, 300, 500, 500, 1000, 300} {
		wg.Go(func() {
			if err := b.deliver(events[c]); err != nil {
				t.Errorf("deliver: %v", err)
			}
		})
	}
	wg.Wait()
	b.wantBalance(user, 0, 0)
	if n := b.count(`SELECT COALESCE(-sum(amount_cents), 0) FROM transactions WHERE kind = 'withdrawal'`); n != 1000 {
		t.Fatalf("withdrawn = %d, want 1000", n)
	}
	b.verify()
}

func TestRefundAfterSpendingBlocksReservesUntilTopUp(t *testing.T) {
	t.Parallel()
	b := setup(t)
	user := uuid.NewString()
	ctx := context.Background()
	tu := b.topUp(user, 1000)
	s := session(tu, user)
	b.mustDeliver(stripeevents.CheckoutSessionEvent("", "checkout.session.completed", s))
	if _, err := b.workflow.Reserve(ctx, &walletv1.ReserveRequest{Key: "spend", UserId: user, AmountCents: 800}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.workflow.Capture(ctx, &walletv1.CaptureRequest{Key: "spend"}); err != nil {
		t.Fatal(err)
	}
	b.mustDeliver(stripeevents.ChargeRefundedEvent("", "ch_1", s.PaymentIntentID, 1000, 1000))
	b.wantBalance(user, -800, 0)
	_, err := b.workflow.Reserve(ctx, &walletv1.ReserveRequest{Key: "blocked", UserId: user, AmountCents: 10})
	wantErr(t, err, codes.FailedPrecondition, rpcerr.InsufficientFunds)
	b.verify() // negative is allowed: a withdrawal caused it

	again := b.topUp(user, 1000)
	b.mustDeliver(stripeevents.CheckoutSessionEvent("", "checkout.session.completed", session(again, user)))
	b.wantBalance(user, 200, 0)
	if _, err := b.workflow.Reserve(ctx, &walletv1.ReserveRequest{Key: "after", UserId: user, AmountCents: 10}); err != nil {
		t.Fatalf("reserve after top-up: %v", err)
	}
	b.verify()
}

func TestLostDisputeChargesBackOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	user := uuid.NewString()
	tu := b.topUp(user, 1000)
	s := session(tu, user)
	b.mustDeliver(stripeevents.CheckoutSessionEvent("", "checkout.session.completed", s))
	b.mustDeliver(stripeevents.DisputeClosedEvent("", "dp_won", "ch_1", s.PaymentIntentID, "won", 1000))
	b.wantBalance(user, 1000, 0)
	lost := stripeevents.DisputeClosedEvent("", "dp_1", "ch_1", s.PaymentIntentID, "lost", 1000)
	b.mustDeliver(lost)
	b.mustDeliver(lost)
	b.mustDeliver(stripeevents.DisputeClosedEvent("", "dp_1", "ch_1", s.PaymentIntentID, "lost", 1000)) // same dispute, new event id
	b.wantBalance(user, 0, 0)
	if n := b.count(`SELECT count(*) FROM transactions WHERE kind = 'chargeback'`); n != 1 {
		t.Fatalf("chargebacks = %d", n)
	}
	b.verify()
}
