package portal_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/meterflow/meterflow/e2e/stack"
	"github.com/meterflow/meterflow/gateway/webtest"
	"github.com/meterflow/meterflow/services/wallet/stripeevents"
)

// TestPortalWalletSettings: the settings forms over HTTP. Errors stand
// next to their field; auto top-up waits for a card; saving a card goes
// through Checkout in setup mode and back to a page that waits for
// Stripe's word; then auto top-up can be switched on, and removing the
// card switches it off.
func TestPortalWalletSettings(t *testing.T) {
	w := setup(t)
	s := w.s
	email := "settings-" + stack.RandomHex() + "@example.com"
	token, _, userID := s.Signup(t, email, password)
	link, _ := url.Parse(verifyLink(t, s, email))
	if r := s.Do(t, stack.Request{Method: "POST", Path: "/v1/auth/verify-email", Body: map[string]string{"token": link.Query().Get("token")}}); r.Status != http.StatusNoContent {
		t.Fatalf("verify: %d %s", r.Status, r.Body)
	}
	br := webtest.New(t, s.URL+"/app")
	if p := br.Login(email, password); p.Status != http.StatusSeeOther {
		t.Fatalf("login: %d %s", p.Status, p.Body)
	}
	page := br.Get("/settings")
	csrf := webtest.CSRF(t, page)
	post := func(path string, v url.Values) webtest.Page {
		t.Helper()
		v.Set("csrf", csrf)
		return br.Post(path, v)
	}
	want := func(p webtest.Page, status int, texts ...string) {
		t.Helper()
		for _, text := range texts {
			if p.Status != status || !strings.Contains(p.Body, text) {
				t.Fatalf("status %d, want %d with %q:\n%s", p.Status, status, text, p.Body)
			}
		}
	}

	want(post("/settings/low-balance", url.Values{"threshold": {"ten"}}), http.StatusBadRequest,
		`<p class="field-error" id="low_threshold-error">Enter an amount in dollars and cents`, `aria-describedby="low_threshold-error"`)
	want(post("/settings/auto-topup", url.Values{"enabled": {"1"}, "threshold": {"8"}, "amount": {"15"}}), http.StatusConflict,
		"Auto top-up needs a saved card. Save one below first.")

	// Save a card: Checkout in setup mode, back to the settings.
	before := len(s.Stripe.Checkouts())
	if p := post("/settings/card", url.Values{}); p.Status != http.StatusSeeOther || !strings.HasPrefix(p.Header.Get("Location"), "https://") {
		t.Fatalf("save a card: %d %v", p.Status, p.Header)
	}
	c := newCheckout(t, s, before)
	if c.SuccessURL != s.URL+"/app/settings?card=saved" || c.CancelURL != s.URL+"/app/settings?card=cancelled" {
		t.Fatalf("setup Checkout returns to %q / %q", c.SuccessURL, c.CancelURL)
	}
	want(br.Get("/settings?card=saved"), http.StatusOK, "Waiting for Stripe to confirm your card", `http-equiv="refresh"`)
	want(br.Get("/settings?card=cancelled"), http.StatusOK, "No card was saved.")
	event := stripeevents.SetupSessionCompletedEvent("", stripeevents.SetupSession{
		ID: c.ID, UserID: userID, CustomerID: s.StripeCustomer(t, userID), SetupIntentID: "seti_portal",
	})
	if r := s.Do(t, stack.Request{Method: "POST", Path: "/v1/webhooks/stripe", Body: event,
		Headers: map[string]string{"Stripe-Signature": stripeevents.Sign(event, stack.WebhookSecret, time.Now())}}); r.Status != http.StatusOK {
		t.Fatalf("setup webhook: %d %s", r.Status, r.Body)
	}
	saved := br.Get("/settings?card=saved&wait=3")
	want(saved, http.StatusOK, "ending in", "Save auto top-up")
	if strings.Contains(saved.Body, `http-equiv="refresh"`) {
		t.Fatal("the page still waits once the card is saved")
	}

	// Auto top-up on, with the amounts in dollars; then the card removed.
	if p := post("/settings/auto-topup", url.Values{"enabled": {"1"}, "threshold": {"8"}, "amount": {"15.50"}}); p.Status != http.StatusSeeOther {
		t.Fatalf("auto top-up on: %d %s", p.Status, p.Body)
	}
	want(br.Get("/settings"), http.StatusOK, "Auto top-up is on.", `value="8.00"`, `value="15.50"`, `name="enabled" value="1" checked`)
	if r := s.Do(t, stack.Request{Method: "GET", Path: "/v1/wallet/settings", Token: token}); !strings.Contains(string(r.Body), `"enabled":true,"threshold_cents":800,"amount_cents":1550`) {
		t.Fatalf("the API sees: %s", r.Body)
	}
	if p := post("/settings/card/remove", url.Values{}); p.Status != http.StatusSeeOther {
		t.Fatalf("remove the card: %d %s", p.Status, p.Body)
	}
	want(br.Get("/settings"), http.StatusOK, "The card is removed and auto top-up is off.", "Save a card")
}
