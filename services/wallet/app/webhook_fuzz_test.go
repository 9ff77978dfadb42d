package app_test

import (
	"bytes"
	"context"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/meterflow/meterflow/platform/rpcerr"
	walletv1 "github.com/meterflow/meterflow/proto/gen/meterflow/wallet/v1"
	"github.com/meterflow/meterflow/services/wallet/app"
	"github.com/meterflow/meterflow/services/wallet/stripeevents"
)

// Signature modes of FuzzStripeWebhook.
const (
	sigFuzzed  = iota // the fuzzed Stripe-Signature header as it is
	sigValid          // signed now with the webhook secret
	sigExpired        // signed with the secret ten minutes ago
	sigModes
)

// FuzzStripeWebhook sends arbitrary payloads to HandleStripeEvent over real
// gRPC, against a real database holding one pending top-up. The fuzzed
// payload may name that top-up through the placeholders {{SESSION}},
// {{TOPUP}}, {{USER}} and {{PI}}, so validly signed events can reach the
// crediting code. Whatever the input: no panic, never a 5xx-class code
// (Internal, Unknown, Unavailable, DataLoss, ...); an unsigned, wrongly
// signed or stale payload writes nothing; and after every input the
// ledgers still sum to the balances.
func FuzzStripeWebhook(f *testing.F) {
	sess := stripeevents.Session{
		ID: "{{SESSION}}", TopUpID: "{{TOPUP}}", UserID: "{{USER}}", AmountTotal: 1000,
		Currency: "usd", PaymentStatus: "paid", PaymentIntentID: "{{PI}}",
	}
	seeds := [][]byte{
		stripeevents.CheckoutSessionEvent("evt_seed_1", "checkout.session.completed", sess),
		stripeevents.CheckoutSessionEvent("evt_seed_2", "checkout.session.async_payment_succeeded", sess),
		stripeevents.CheckoutSessionEvent("evt_seed_3", "checkout.session.expired", sess),
		stripeevents.ChargeRefundedEvent("evt_seed_4", "ch_1", "{{PI}}", 1000, 250),
		stripeevents.DisputeClosedEvent("evt_seed_5", "dp_1", "ch_1", "{{PI}}", "lost", 300),
		[]byte(`{"id":"evt_x","type":"customer.created","data":{"object":{"id":"cus_1"}}}`),
		[]byte(`{"id":"evt_y","type":"charge.refunded","data":{"object":{"id":"ch_1","payment_intent":{"id":"{{PI}}"},"amount_refunded":-5}}}`),
		[]byte(`{"id":"evt_z","type":"checkout.session.completed","data":{"object":{"id":"{{SESSION}}","amount_total":9223372036854775807,"payment_status":"paid","client_reference_id":"{{USER}}","metadata":{"topup_id":"{{TOPUP}}"}}}}`),
		[]byte(`{"id":"evt\u0000","type":"checkout.session.completed","data":{"object":{"id":"{{SESSION}}\u0000"}}}`),
		[]byte(`{"id":"evt_d","type":"charge.dispute.closed","data":{"object":{"id":"dp_2","status":"lost","amount":9223372036854775807,"payment_intent":"{{PI}}"}}}`),
		[]byte(`{"id":1,"type":[]}`),
		[]byte(`not json`),
		{},
	}
	for _, p := range seeds {
		for mode := range uint8(sigModes) {
			f.Add(p, mode, "")
		}
	}
	f.Add(seeds[0], uint8(sigFuzzed), "t=1700000000,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd")
	f.Add(seeds[0], uint8(sigFuzzed), "t=abc,v1=zz,v0=")

	b := setup(f)
	user := uuid.NewString()
	tu := b.topUp(user, 1000)
	repl := []string{
		"{{SESSION}}", tu.GetCheckoutSessionId(), "{{TOPUP}}", tu.GetId(),
		"{{USER}}", user, "{{PI}}", "pi_" + tu.GetId(),
	}
	// The bundle's helpers report to f; inside the target only t may fail.
	written := func(t *testing.T) int {
		var n int
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err := b.pool.QueryRow(ctx,
			`SELECT (SELECT count(*) FROM stripe_events) + (SELECT count(*) FROM transactions)`).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	f.Fuzz(func(t *testing.T, payload []byte, mode uint8, signature string) {
		for i := 0; i < len(repl); i += 2 {
			payload = bytes.ReplaceAll(payload, []byte(repl[i]), []byte(repl[i+1]))
		}
		mode %= sigModes
		switch mode {
		case sigValid:
			signature = stripeevents.Sign(payload, webhookSecret, time.Now())
		case sigExpired:
			signature = stripeevents.Sign(payload, webhookSecret, time.Now().Add(-10*time.Minute))
		}
		if !utf8.ValidString(signature) {
			// A proto string cannot carry it: the gateway refuses such
			// headers itself (FuzzRequestDecoders).
			return
		}
		before := written(t)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := b.gateway.HandleStripeEvent(ctx, &walletv1.HandleStripeEventRequest{Payload: payload, Signature: signature})
		switch status.Code(err) {
		case codes.OK, codes.InvalidArgument:
		default:
			t.Fatalf("answered %s %q: %v", status.Code(err), rpcerr.Reason(err), err)
		}
		if mode != sigValid {
			if err == nil {
				t.Fatalf("a payload without a valid signature was accepted: %q %q", payload, signature)
			}
			if after := written(t); after != before {
				t.Fatalf("a payload without a valid signature wrote %d rows", after-before)
			}
			if r := rpcerr.Reason(err); r != rpcerr.InvalidSignature && len(payload) <= 1<<20 {
				t.Fatalf("reason = %q, want %q", r, rpcerr.InvalidSignature)
			}
		}
		if err != nil {
			return // refused: nothing was written (checked above for unsigned input)
		}
		vctx, vcancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer vcancel()
		if bad, err := app.Verify(vctx, b.dbURL); err != nil || len(bad) > 0 {
			t.Fatalf("ledger invariants after %q: %+v, %v", payload, bad, err)
		}
	})
}

// TestSignedEventWithNULIsMalformed: a validly signed event whose ids hold
// U+0000 (which Postgres text refuses) used to fail as Internal, so Stripe
// would have retried it forever; it is a malformed event now, and writes
// nothing. Found by FuzzStripeWebhook.
func TestSignedEventWithNULIsMalformed(t *testing.T) {
	t.Parallel()
	b := setup(t)
	user := uuid.NewString()
	tu := b.topUp(user, 1000)
	for _, payload := range []string{
		`{"id":"evt\u0000","type":"checkout.session.completed","data":{"object":{"id":"cs_1"}}}`,
		`{"id":"evt_1","type":"checkout.session.completed","data":{"object":{"id":"` + tu.GetCheckoutSessionId() + `\u0000"}}}`,
		`{"id":"evt_2","type":"charge.refunded","data":{"object":{"id":"ch_1","payment_intent":"pi\u0000","amount_refunded":5}}}`,
		`{"id":"evt_3","type":"charge.dispute.closed","data":{"object":{"id":"dp\u0000","status":"lost","amount":5,"payment_intent":"pi_1"}}}`,
	} {
		wantErr(t, b.deliver([]byte(payload)), codes.InvalidArgument, rpcerr.ValidationFailed)
	}
	if n := b.count(`SELECT count(*) FROM stripe_events`) + b.count(`SELECT count(*) FROM transactions`); n != 0 {
		t.Fatalf("rows written = %d, want 0", n)
	}
}

// TestHugeStripeAmountsAreMalformed: validly signed events with amounts no
// payment can have (found by FuzzStripeWebhook: a lost dispute of
// 9223372036854775807 cents, then another dispute) overflowed the
// top-up's counters and the balance, and failed as Internal, so Stripe
// would have retried them forever. Such amounts are malformed events now,
// and write nothing.
func TestHugeStripeAmountsAreMalformed(t *testing.T) {
	t.Parallel()
	b := setup(t)
	user := uuid.NewString()
	tu := b.topUp(user, 1000)
	s := session(tu, user)
	b.mustDeliver(stripeevents.CheckoutSessionEvent("", "checkout.session.completed", s))
	const huge = 9223372036854775807
	for _, ev := range [][]byte{
		stripeevents.DisputeClosedEvent("", "dp_huge", "ch_1", s.PaymentIntentID, "lost", huge),
		stripeevents.ChargeRefundedEvent("", "ch_1", s.PaymentIntentID, 1000, huge),
	} {
		wantErr(t, b.deliver(ev), codes.InvalidArgument, rpcerr.ValidationFailed)
	}
	other := b.topUp(user, 1000)
	big := session(other, user)
	big.AmountTotal = huge
	wantErr(t, b.deliver(stripeevents.CheckoutSessionEvent("", "checkout.session.completed", big)), codes.InvalidArgument, rpcerr.ValidationFailed)
	// Ordinary amounts still book.
	b.mustDeliver(stripeevents.DisputeClosedEvent("", "dp_1", "ch_1", s.PaymentIntentID, "lost", 300))
	b.wantBalance(user, 700, 0)
	b.verify()
}
