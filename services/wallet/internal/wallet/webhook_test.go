package wallet

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestExpandableID(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{`"pi_1"`: "pi_1", `{"id":"pi_2","object":"payment_intent"}`: "pi_2", `null`: ""} {
		var got struct {
			PI expandableID `json:"pi"`
		}
		if err := json.Unmarshal([]byte(`{"pi":`+in+`}`), &got); err != nil || string(got.PI) != want {
			t.Fatalf("%s: got %q, %v; want %q", in, got.PI, err, want)
		}
	}
}

func TestDecideCheckout(t *testing.T) {
	t.Parallel()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	user := uuid.New()
	pending := TopUp{ID: uuid.New(), UserID: user, AmountCents: 1000, Currency: "usd", Status: TopUpPending}
	paid := pending
	paid.Status, paid.Credited, paid.CreditedCents = TopUpPaid, true, 1000
	parked := pending
	parked.Status = TopUpParked
	amount := int64(1000)
	obj := func(status string) checkoutSessionObject {
		return checkoutSessionObject{ID: "cs_1", ClientReferenceID: user.String(), Metadata: map[string]string{"topup_id": pending.ID.String()},
			AmountTotal: &amount, Currency: "usd", PaymentStatus: status, PaymentIntent: "pi_1"}
	}
	tests := []struct {
		name       string
		typ        string
		obj        checkoutSessionObject
		t          TopUp
		wantStatus string
		wantCredit int64
		wantErr    error
	}{
		{"completed paid credits", EventCheckoutCompleted, obj("paid"), pending, TopUpPaid, 1000, nil},
		{"completed unpaid waits", EventCheckoutCompleted, obj("unpaid"), pending, TopUpPending, 0, nil},
		{"async succeeded credits", EventCheckoutAsyncSucceeded, obj("paid"), pending, TopUpPaid, 1000, nil},
		{"second credit is a no-op", EventCheckoutAsyncSucceeded, obj("paid"), paid, TopUpPaid, 0, nil},
		{"async failed", EventCheckoutAsyncFailed, obj("unpaid"), pending, TopUpFailed, 0, nil},
		{"expired", EventCheckoutExpired, obj("unpaid"), pending, TopUpExpired, 0, nil},
		{"expired never downgrades paid", EventCheckoutExpired, obj("unpaid"), paid, TopUpPaid, 0, nil},
		{"other user", EventCheckoutCompleted, func() checkoutSessionObject { o := obj("paid"); o.ClientReferenceID = uuid.NewString(); return o }(), pending, "", 0, ErrNotOurs},
		{"other top-up", EventCheckoutCompleted, func() checkoutSessionObject { o := obj("paid"); o.Metadata = nil; return o }(), pending, "", 0, ErrNotOurs},
		{"no amount", EventCheckoutCompleted, func() checkoutSessionObject { o := obj("paid"); o.AmountTotal = nil; return o }(), pending, "", 0, ErrMalformedEvent},
		{"no currency", EventCheckoutCompleted, func() checkoutSessionObject { o := obj("paid"); o.Currency = ""; return o }(), pending, "", 0, ErrMalformedEvent},
		{"upper-case currency credits", EventCheckoutCompleted, func() checkoutSessionObject { o := obj("paid"); o.Currency = "USD"; return o }(), pending, TopUpPaid, 1000, nil},
		{"another currency parks", EventCheckoutCompleted, func() checkoutSessionObject { o := obj("paid"); o.Currency = "eur"; return o }(), pending, TopUpParked, 0, nil},
		{"parked is never credited", EventCheckoutAsyncSucceeded, obj("paid"), parked, TopUpParked, 0, nil},
		{"parked does not expire", EventCheckoutExpired, obj("unpaid"), parked, TopUpParked, 0, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := decideCheckout(context.Background(), log, tc.typ, tc.obj, tc.t, time.Now())
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil || c.Status != tc.wantStatus {
				t.Fatalf("change = %+v, %v; want status %s", c, err, tc.wantStatus)
			}
			var credited int64
			for _, e := range c.Entries {
				credited += e.AmountCents
			}
			if credited != tc.wantCredit {
				t.Fatalf("credited %d, want %d", credited, tc.wantCredit)
			}
		})
	}
}

func TestDecideRefund(t *testing.T) {
	t.Parallel()
	top := TopUp{ID: uuid.New(), Currency: "usd", AmountRefundedCents: 300}
	for refunded, want := range map[int64]int64{200: 0, 300: 0, 500: -200, 1000: -700} {
		r := refunded
		c := decideRefund(chargeObject{AmountRefunded: &r, Currency: "usd"}, top, time.Now())
		var got int64
		for _, e := range c.Entries {
			got += e.AmountCents
		}
		if got != want || (want != 0 && c.AmountRefundedCents != refunded) {
			t.Fatalf("refunded %d: debit %d (seen %d), want %d", refunded, got, c.AmountRefundedCents, want)
		}
	}
}
