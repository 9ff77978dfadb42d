package stack

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/meterflow/meterflow/services/wallet/stripeevents"
)

// TestWalletAutomationOverHTTP: the settings as users see them (the
// contract's WalletSettings exactly), a PATCH's null and validation, 409
// no_payment_method, saving a card through Checkout in setup mode and
// Stripe's completion, removing it, the operators' views, and API keys
// kept out.
func TestWalletAutomationOverHTTP(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{})
	admin := s.Admin(t)
	token, _, userID := s.Signup(t, "auto@example.com", "correct horse battery")
	get := func() map[string]any {
		t.Helper()
		r := s.Do(t, Request{Method: "GET", Path: "/v1/wallet/settings", Token: token})
		if r.Status != http.StatusOK {
			t.Fatalf("GET settings: %d %s", r.Status, r.Body)
		}
		return r.JSON(t)
	}
	patch := func(body any) Response {
		return s.Do(t, Request{Method: "PATCH", Path: "/v1/wallet/settings", Token: token, Body: body})
	}
	if st := get(); !jsonEqual(string(mustJSON(t, st)), `{"low_balance_threshold_cents":null,"auto_topup":{"enabled":false,"threshold_cents":500,"amount_cents":2000,"last_error":null},"payment_method":null}`) {
		t.Fatalf("defaults = %v", st)
	}
	wantProblem(t, patch(map[string]any{"auto_topup": map[string]any{"enabled": true}}), http.StatusConflict, "no_payment_method")
	wantProblem(t, patch(map[string]any{"low_balance_threshold_cents": "300"}), http.StatusBadRequest, "validation_failed")
	wantProblem(t, patch(map[string]any{"colour": "red"}), http.StatusBadRequest, "validation_failed")
	wantProblem(t, patch(map[string]any{"auto_topup": map[string]any{"amount_cents": 1}}), http.StatusBadRequest, "validation_failed")
	if r := patch(map[string]any{"low_balance_threshold_cents": 300}); r.Status != http.StatusOK || r.JSON(t)["low_balance_threshold_cents"] != float64(300) {
		t.Fatalf("set threshold: %d %s", r.Status, r.Body)
	}
	if r := patch([]byte(`{"low_balance_threshold_cents": null}`)); r.Status != http.StatusOK || r.JSON(t)["low_balance_threshold_cents"] != nil {
		t.Fatalf("clear threshold: %d %s", r.Status, r.Body)
	}

	r := s.Do(t, Request{Method: "POST", Path: "/v1/wallet/payment-method", Token: token})
	if r.Status != http.StatusCreated || r.JSON(t)["checkout_url"] == "" {
		t.Fatalf("POST payment-method: %d %s", r.Status, r.Body)
	}
	event := stripeevents.SetupSessionCompletedEvent("", stripeevents.SetupSession{
		ID: "cs_setup_1", UserID: userID, CustomerID: s.StripeCustomer(t, userID), SetupIntentID: "seti_1",
	})
	if r := s.Do(t, Request{Method: "POST", Path: "/v1/webhooks/stripe", Body: event,
		Headers: map[string]string{"Stripe-Signature": stripeevents.Sign(event, WebhookSecret, time.Now())}}); r.Status != http.StatusOK {
		t.Fatalf("webhook: %d %s", r.Status, r.Body)
	}
	pm, _ := get()["payment_method"].(map[string]any)
	if pm == nil || pm["brand"] == "" || len(pm["last4"].(string)) != 4 || pm["exp_month"] == nil || pm["exp_year"] == nil {
		t.Fatalf("saved card = %v", pm)
	}
	if r := patch(map[string]any{"auto_topup": map[string]any{"enabled": true, "threshold_cents": 800, "amount_cents": 1500}}); r.Status != http.StatusOK {
		t.Fatalf("enable: %d %s", r.Status, r.Body)
	}

	ra := s.Do(t, Request{Method: "GET", Path: "/v1/admin/users/" + userID + "/wallet-automation", Token: admin})
	if ra.Status != http.StatusOK {
		t.Fatalf("admin automation: %d %s", ra.Status, ra.Body)
	}
	auto := ra.JSON(t)
	if card := auto["payment_method"].(map[string]any); len(card) != 2 || card["last4"] != pm["last4"] {
		t.Fatalf("operators see the card as %v, want brand and last4 only", card)
	}
	if a := auto["auto_topup"].(map[string]any); a["enabled"] != true || a["monthly_cap_cents"] != float64(15000) || a["failures"] != float64(0) {
		t.Fatalf("operators see auto top-up as %v", a)
	}
	for _, path := range []string{"/v1/admin/debts", "/v1/admin/disputes?status=open"} {
		if r := s.Do(t, Request{Method: "GET", Path: path, Token: admin}); r.Status != http.StatusOK || len(r.JSON(t)["items"].([]any)) != 0 {
			t.Fatalf("%s: %d %s", path, r.Status, r.Body)
		}
		wantProblem(t, s.Do(t, Request{Method: "GET", Path: path, Token: token}), http.StatusForbidden, "forbidden")
	}
	wantProblem(t, s.Do(t, Request{Method: "GET", Path: "/v1/admin/disputes?status=closed", Token: admin}), http.StatusBadRequest, "validation_failed")

	key := createKey(t, s, token, map[string]any{"name": "reader", "scopes": []string{"wallet:read"}})["key"].(string)
	for _, m := range []string{"GET", "PATCH"} {
		wantProblem(t, s.Do(t, Request{Method: m, Path: "/v1/wallet/settings", Token: key, Body: map[string]any{}}), http.StatusForbidden, "insufficient_scope")
	}
	wantProblem(t, s.Do(t, Request{Method: "DELETE", Path: "/v1/wallet/payment-method", Token: key}), http.StatusForbidden, "insufficient_scope")

	for range 2 {
		if r := s.Do(t, Request{Method: "DELETE", Path: "/v1/wallet/payment-method", Token: token}); r.Status != http.StatusNoContent {
			t.Fatalf("DELETE payment-method: %d %s", r.Status, r.Body)
		}
	}
	if st := get(); st["payment_method"] != nil || st["auto_topup"].(map[string]any)["enabled"] != false {
		t.Fatalf("after removing the card = %v", st)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
