package stack

import (
	"bytes"
	"strings"
	"sync"
	"testing"
)

// TestAdjustmentRules: Idempotency-Key replays, a negative adjustment beyond
// the balance, and disabling a user revoking their refresh tokens.
func TestAdjustmentRules(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{})
	admin := s.Admin(t)
	tok, refresh1, uid := s.Signup(t, "adjusted@example.com", "password-1")

	// Same key, same body: the same 201 answer, one ledger row, even when
	// the requests race.
	first := adjust(t, s, admin, uid, 250, "refund of a failed batch", "adj-key-1")
	if first.Status != 201 {
		t.Fatalf("adjust: %d %s", first.Status, first.Body)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			r := adjust(t, s, admin, uid, 250, "refund of a failed batch", "adj-key-1")
			switch {
			case r.Status == 201 && bytes.Equal(r.Body, first.Body):
			case r.Status == 409 && strings.Contains(string(r.Body), "request_in_progress"):
			default:
				t.Errorf("replay: %d %s, want the first answer %s", r.Status, r.Body, first.Body)
			}
		})
	}
	wg.Wait()
	if again := adjust(t, s, admin, uid, 250, "refund of a failed batch", "adj-key-1"); again.Status != 201 || !bytes.Equal(again.Body, first.Body) {
		t.Fatalf("replay: %d %s", again.Status, again.Body)
	}
	// Same key, other body: 422, nothing booked.
	wantProblem(t, adjust(t, s, admin, uid, 260, "refund of a failed batch", "adj-key-1"), 422, "idempotency_key_reused")
	wantProblem(t, adjust(t, s, admin, uid, 250, "another reason", "adj-key-1"), 422, "idempotency_key_reused")
	rows := s.Do(t, Request{Method: "GET", Path: "/v1/admin/transactions?kind=adjustment&user_id=" + uid, Token: admin})
	if rows.Status != 200 || strings.Count(string(rows.Body), `"kind":"adjustment"`) != 1 {
		t.Fatalf("ledger after replays: %d %s", rows.Status, rows.Body)
	}
	if w := balance(t, s, tok); w["balance_cents"].(float64) != 250 {
		t.Fatalf("wallet %v", w)
	}

	// A debit beyond the balance: 422, balance untouched; down to zero is fine.
	wantProblem(t, adjust(t, s, admin, uid, -251, "clawback", "adj-key-2"), 422, "insufficient_funds")
	wantProblem(t, adjust(t, s, admin, uid, -251, "clawback", ""), 422, "insufficient_funds")
	if w := balance(t, s, tok); w["balance_cents"].(float64) != 250 {
		t.Fatalf("wallet after refused debit %v", w)
	}
	if r := adjust(t, s, admin, uid, -250, "clawback", "adj-key-3"); r.Status != 201 || r.JSON(t)["balance_after_cents"].(float64) != 0 {
		t.Fatalf("debit to zero: %d %s", r.Status, r.Body)
	}
	// Validation: zero amount, missing reason, no Idempotency-Key, over
	// ADJUSTMENT_MAX_CENTS (1,000,000) either way; each names its field.
	for _, tc := range []struct {
		name    string
		cents   int64
		reason  string
		headers map[string]string
		field   string
	}{
		{"zero", 0, "nothing", map[string]string{"Idempotency-Key": "v-1"}, "amount_cents"},
		{"no reason", 5, "", map[string]string{"Idempotency-Key": "v-2"}, "reason"},
		{"no key", 5, "goodwill", nil, "Idempotency-Key"},
		{"credit over the cap", 1_000_001, "typo", map[string]string{"Idempotency-Key": "v-3"}, "amount_cents"},
		{"debit over the cap", -1_000_001, "typo", map[string]string{"Idempotency-Key": "v-4"}, "amount_cents"},
	} {
		p := wantProblem(t, s.Do(t, Request{Method: "POST", Path: "/v1/admin/users/" + uid + "/adjustments", Token: admin,
			Body: map[string]any{"amount_cents": tc.cents, "reason": tc.reason}, Headers: tc.headers}), 400, "validation_failed")
		errs, _ := p["errors"].([]any)
		if len(errs) != 1 || errs[0].(map[string]any)["field"] != tc.field {
			t.Fatalf("%s: errors %v, want one naming %s", tc.name, p["errors"], tc.field)
		}
	}
	if r := adjust(t, s, admin, uid, 1_000_000, "the most one adjustment may move", ""); r.Status != 201 {
		t.Fatalf("adjustment at the cap: %d %s", r.Status, r.Body)
	}
	if w := balance(t, s, tok); w["balance_cents"].(float64) != 1_000_000 {
		t.Fatalf("wallet after validation %v", w)
	}

	// The user sees "Adjustment" and no reference; admins see the reason
	// and who booked it.
	own := s.Do(t, Request{Method: "GET", Path: "/v1/wallet/transactions?kind=adjustment", Token: tok})
	if own.Status != 200 || strings.Contains(string(own.Body), "refund of a failed batch") || strings.Contains(string(own.Body), "clawback") ||
		strings.Count(string(own.Body), `"description":"Adjustment","reference":null`) != 3 {
		t.Fatalf("the user's transactions: %d %s", own.Status, own.Body)
	}
	adm := s.Do(t, Request{Method: "GET", Path: "/v1/admin/transactions?kind=adjustment&user_id=" + uid, Token: admin})
	if adm.Status != 200 || !strings.Contains(string(adm.Body), `"description":"refund of a failed batch","reference":{"type":"admin","id":"`) {
		t.Fatalf("the admin's transactions: %d %s", adm.Status, adm.Body)
	}

	// Disabling revokes every refresh token of the user: refresh is 401,
	// and stays 401 after the account is enabled again.
	refresh2 := s.Do(t, Request{Method: "POST", Path: "/v1/auth/login", Body: creds("adjusted@example.com", "password-1")}).JSON(t)["refresh_token"].(string)
	if r := s.Do(t, Request{Method: "PATCH", Path: "/v1/admin/users/" + uid, Token: admin, Body: map[string]any{"is_active": false, "reason": "abuse"}}); r.Status != 200 {
		t.Fatalf("disable: %d %s", r.Status, r.Body)
	}
	for _, rt := range []string{refresh1, refresh2} {
		wantProblem(t, s.Do(t, Request{Method: "POST", Path: "/v1/auth/refresh", Body: map[string]string{"refresh_token": rt}}), 401, "invalid_token")
	}
	if r := s.Do(t, Request{Method: "PATCH", Path: "/v1/admin/users/" + uid, Token: admin, Body: map[string]any{"is_active": true}}); r.Status != 200 {
		t.Fatalf("enable: %d %s", r.Status, r.Body)
	}
	for _, rt := range []string{refresh1, refresh2} {
		wantProblem(t, s.Do(t, Request{Method: "POST", Path: "/v1/auth/refresh", Body: map[string]string{"refresh_token": rt}}), 401, "invalid_token")
	}
	// A new login works again.
	s.Login(t, "adjusted@example.com", "password-1")
}
