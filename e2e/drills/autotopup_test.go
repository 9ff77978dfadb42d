//go:build drills

package drills

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	e2e "github.com/meterflow/meterflow/e2e/stack"
	walletapp "github.com/meterflow/meterflow/services/wallet/app"
	"github.com/meterflow/meterflow/services/wallet/stripeevents"
	"github.com/meterflow/meterflow/services/wallet/stripemocktest"
)

// TestAutoTopUpCrashDrill: the wallet is SIGKILLed in the middle of an
// automatic top-up, after Stripe made the PaymentIntent and before its
// answer arrived. The restarted wallet's queue rescues the charge job and
// asks Stripe again with the same idempotency key: one PaymentIntent, one
// credit when Stripe reports it (twice), and the ledger still verifies.
func TestAutoTopUpCrashDrill(t *testing.T) {
	stripe := stripemocktest.StartStateful(t)
	s := startStack(t, options{stripeBase: stripe.URL, walletEnv: []string{"JOB_WORKERS=1", "JOB_RESCUE_AFTER=3s"}})
	admin := s.admin(t)
	token, user := s.signup(t)
	s.mustDo(t, 201, "POST", "/v1/admin/users/"+user+"/adjustments", admin,
		map[string]any{"amount_cents": 1000, "reason": "drill funding"}, map[string]string{"Idempotency-Key": e2e.RandomHex()})

	// A saved card, then auto top-up of $20 below $9.
	s.mustDo(t, 201, "POST", "/v1/wallet/payment-method", token, nil, nil)
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, s.walletDB)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var customer string
	if err := pool.QueryRow(ctx, "SELECT stripe_customer_id FROM wallet_settings WHERE user_id = $1", user).Scan(&customer); err != nil {
		t.Fatal(err)
	}
	deliver := func(event []byte) {
		t.Helper()
		s.mustDo(t, 200, "POST", "/v1/webhooks/stripe", "", event, map[string]string{"Stripe-Signature": stripeevents.Sign(event, webhookSecret, time.Now())})
	}
	deliver(stripeevents.SetupSessionCompletedEvent("", stripeevents.SetupSession{ID: "cs_setup_drill", UserID: user, CustomerID: customer, SetupIntentID: "seti_drill"}))
	s.mustDo(t, 200, "PATCH", "/v1/wallet/settings", token, map[string]any{"auto_topup": map[string]any{"enabled": true, "threshold_cents": 900, "amount_cents": 2000}}, nil)

	// A paid run takes the balance below the threshold; Stripe is slow to
	// answer the charge, and the wallet dies while it waits.
	n8n := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	defer n8n.Close()
	s.mustDo(t, 201, "POST", "/v1/admin/workflows", admin, map[string]any{
		"slug": "drill-topup", "name": "drill", "webhook_url": n8n.URL + "/webhook/drill", "fee_cents": 200, "timeout_ms": 2000,
	}, nil)
	stripe.SlowChargeAnswers(time.Minute)
	s.mustDo(t, 200, "POST", "/v1/workflows/drill-topup/runs", token, map[string]any{"input": map[string]any{}}, nil)
	eventually(t, 30*time.Second, "Stripe made the PaymentIntent", func() bool { return len(stripe.Charges()) == 1 })
	s.wallet.Kill()
	stripe.SlowChargeAnswers(0)
	restart(t, s.wallet)

	eventually(t, 60*time.Second, "the rescued job records the PaymentIntent", func() bool {
		var n int
		_ = pool.QueryRow(ctx, "SELECT count(*) FROM topups WHERE user_id = $1 AND origin = 'auto' AND payment_intent_id IS NOT NULL", user).Scan(&n)
		return n == 1
	})
	charges := stripe.Charges()
	if len(charges) != 1 || charges[0].Requests < 2 {
		t.Fatalf("charges = %+v: want one PaymentIntent, asked for again after the crash with the same idempotency key", charges)
	}
	for range 2 {
		deliver(stripeevents.PaymentIntentEvent("", "payment_intent.succeeded", stripeevents.PaymentIntent{ID: charges[0].ID, Amount: 2000, Metadata: charges[0].Metadata}))
	}
	w := s.mustDo(t, 200, "GET", "/v1/wallet", token, nil, nil)
	if w["balance_cents"] != float64(2800) {
		t.Fatalf("wallet = %v, want 1000 - 200 + 2000", w)
	}
	bad, err := walletapp.Verify(ctx, s.walletDB)
	if err != nil || len(bad) > 0 {
		t.Fatalf("wallet verify: %+v, %v", bad, err)
	}
	t.Logf("DRILL auto top-up crash: one PaymentIntent (%d requests), credited once", charges[0].Requests)
}
