package console_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/meterflow/meterflow/e2e/stack"
	"github.com/meterflow/meterflow/gateway/console"
	"github.com/meterflow/meterflow/services/wallet/stripeevents"
)

// TestConsoleWalletAutomation: the user's page shows the saved card (brand
// and last four digits), the auto top-up state and the disputes; the
// disputes page lists open disputes; the users page's "In debt" filter
// lists the account a lost dispute took below zero.
func TestConsoleWalletAutomation(t *testing.T) {
	t.Parallel()
	b := setup(t, console.Config{CookieSecure: true, LoginPerMinute: 1000})
	email := "debtor-" + randomHex() + "@example.com"
	userID := b.signUp(email)
	token := b.stack.Login(t, email, "user-password-1")
	deliver := func(event []byte) {
		t.Helper()
		r := b.stack.Do(t, stack.Request{Method: "POST", Path: "/v1/webhooks/stripe", Body: event,
			Headers: map[string]string{"Stripe-Signature": stripeevents.Sign(event, stack.WebhookSecret, time.Now())}})
		if r.Status != http.StatusOK {
			t.Fatalf("webhook: %d %s", r.Status, r.Body)
		}
	}
	// A paid top-up of $10.00, then $8.00 spent (an admin debit here).
	r := b.stack.Do(t, stack.Request{Method: "POST", Path: "/v1/wallet/topups", Token: token, Body: map[string]any{"amount_cents": 1000}})
	if r.Status != http.StatusCreated {
		t.Fatalf("top-up: %d %s", r.Status, r.Body)
	}
	top := r.JSON(t)
	deliver(stripeevents.CheckoutSessionEvent("", "checkout.session.completed", stripeevents.Session{
		ID: top["checkout_session_id"].(string), TopUpID: top["id"].(string), UserID: userID, AmountTotal: 1000,
		Currency: "usd", PaymentStatus: "paid", PaymentIntentID: "pi_console_1",
	}))
	admin := b.stack.Login(t, b.admin, adminPassword)
	if r := b.stack.Do(t, stack.Request{Method: "POST", Path: "/v1/admin/users/" + userID + "/adjustments", Token: admin,
		Headers: map[string]string{"Idempotency-Key": randomHex()}, Body: map[string]any{"amount_cents": -800, "reason": "spent"}}); r.Status != http.StatusCreated {
		t.Fatalf("adjust: %d %s", r.Status, r.Body)
	}
	// A saved card.
	if r := b.stack.Do(t, stack.Request{Method: "POST", Path: "/v1/wallet/payment-method", Token: token}); r.Status != http.StatusCreated {
		t.Fatalf("payment method: %d %s", r.Status, r.Body)
	}
	deliver(stripeevents.SetupSessionCompletedEvent("", stripeevents.SetupSession{ID: "cs_setup_c", UserID: userID, CustomerID: b.stack.StripeCustomer(t, userID), SetupIntentID: "seti_c"}))

	br := b.newBrowser()
	br.mustLogin(b.admin)
	deliver(stripeevents.DisputeEvent("", "charge.dispute.created", "dp_console", "ch_1", "pi_console_1", "needs_response", 1000))
	if p := br.get("/disputes"); p.Status != http.StatusOK || !strings.Contains(p.Body, "dp_console") || !strings.Contains(p.Body, email) {
		t.Fatalf("open disputes page: %d %s", p.Status, p.Body)
	}
	deliver(stripeevents.DisputeEvent("", "charge.dispute.closed", "dp_console", "ch_1", "pi_console_1", "lost", 1000))
	if p := br.get("/disputes"); strings.Contains(p.Body, "dp_console") {
		t.Fatalf("a lost dispute is still listed as open")
	}
	if p := br.get("/disputes?status=all"); !strings.Contains(p.Body, "dp_console") {
		t.Fatalf("all disputes page lacks the lost one")
	}
	p := br.get("/users?filter=debt")
	if p.Status != http.StatusOK || !strings.Contains(p.Body, email) || !strings.Contains(p.Body, "−$8.00") {
		t.Fatalf("in-debt filter: %d %s", p.Status, p.Body)
	}
	p = br.get("/users/" + userID)
	for _, want := range []string{"in debt", "•••• ", "Auto top-up", "dp_console", "lost", "No automatic top-ups yet."} {
		if !strings.Contains(p.Body, want) {
			t.Errorf("user page lacks %q", want)
		}
	}
	if strings.Contains(p.Body, "exp_") || strings.Contains(p.Body, "pm_") {
		t.Errorf("user page shows more of the card than brand and last4")
	}
}
