package app_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/uuid"

	walletv1 "github.com/meterflow/meterflow/proto/gen/meterflow/wallet/v1"
	"github.com/meterflow/meterflow/services/wallet/app"
)

func TestDevPayFinishesAPendingTopUp(t *testing.T) {
	t.Parallel()
	b := setup(t)
	// A stand-in for the gateway's webhook route: raw body and header passed through.
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if _, err := b.gateway.HandleStripeEvent(r.Context(), &walletv1.HandleStripeEventRequest{Payload: body, Signature: r.Header.Get("Stripe-Signature")}); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		_, _ = io.WriteString(w, `{"received":true}`)
	}))
	t.Cleanup(gw.Close)
	user := uuid.NewString()
	tu := b.topUp(user, 1200)
	code, err := app.DevPay(t.Context(), b.cfg, tu.GetId(), gw.URL)
	if err != nil || code != http.StatusOK {
		t.Fatalf("DevPay = %d, %v", code, err)
	}
	b.wantBalance(user, 1200, 0)
	if s := b.topUpStatus(user, tu.GetId()); s != "paid" {
		t.Fatalf("status = %s", s)
	}
	// A paid top-up cannot be paid again.
	if _, err := app.DevPay(t.Context(), b.cfg, tu.GetId(), gw.URL); err == nil {
		t.Fatal("DevPay of a paid top-up succeeded")
	}
	b.verify()
}
