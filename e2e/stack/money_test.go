package stack

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meterflow/meterflow/services/wallet/stripeevents"
)

func balance(t *testing.T, s *Stack, token string) map[string]any {
	t.Helper()
	r := s.Do(t, Request{Method: "GET", Path: "/v1/wallet", Token: token})
	if r.Status != 200 {
		t.Fatalf("wallet: %d %s", r.Status, r.Body)
	}
	return r.JSON(t)
}

// TestTopUpThroughStripeWebhook: a top-up opened through stripe-mock and
// paid by a signed webhook credits the wallet once, however often Stripe
// delivers the event.
func TestTopUpThroughStripeWebhook(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{})
	tok, _, userID := s.Signup(t, "payer@example.com", "password-1")

	wantProblem(t, s.Do(t, Request{Method: "POST", Path: "/v1/wallet/topups", Token: tok, Body: map[string]any{"amount_cents": 499}}), 400, "validation_failed")
	wantProblem(t, s.Do(t, Request{Method: "POST", Path: "/v1/wallet/topups", Token: tok, Body: map[string]any{"amount_cents": 100001}}), 400, "validation_failed")

	key := map[string]string{"Idempotency-Key": "topup-1"}
	r := s.Do(t, Request{Method: "POST", Path: "/v1/wallet/topups", Token: tok, Body: map[string]any{"amount_cents": 1500}, Headers: key})
	if r.Status != 201 {
		t.Fatalf("topup: %d %s", r.Status, r.Body)
	}
	top := r.JSON(t)
	if top["status"] != "pending" || top["amount_cents"].(float64) != 1500 || top["checkout_url"] == "" || top["checkout_session_id"] == "" {
		t.Fatalf("topup %s", r.Body)
	}
	// Same key, same body: the same answer. Same key, other body: 422.
	again := s.Do(t, Request{Method: "POST", Path: "/v1/wallet/topups", Token: tok, Body: map[string]any{"amount_cents": 1500}, Headers: key})
	if again.Status != 201 || again.JSON(t)["id"] != top["id"] {
		t.Fatalf("replay: %d %s", again.Status, again.Body)
	}
	wantProblem(t, s.Do(t, Request{Method: "POST", Path: "/v1/wallet/topups", Token: tok, Body: map[string]any{"amount_cents": 2000}, Headers: key}), 422, "idempotency_key_reused")

	topID := top["id"].(string)
	r = s.Do(t, Request{Method: "GET", Path: "/v1/wallet/topups/" + topID, Token: tok})
	if r.Status != 200 || r.JSON(t)["status"] != "pending" {
		t.Fatalf("get topup: %d %s", r.Status, r.Body)
	}
	other, _, _ := s.Signup(t, "other@example.com", "password-1")
	wantProblem(t, s.Do(t, Request{Method: "GET", Path: "/v1/wallet/topups/" + topID, Token: other}), 404, "not_found")

	event := stripeevents.CheckoutSessionEvent("", "checkout.session.completed", stripeevents.Session{
		ID: top["checkout_session_id"].(string), TopUpID: topID, UserID: userID, AmountTotal: 1500,
		Currency: "usd", PaymentStatus: "paid", PaymentIntentID: "pi_stacktest_1",
	})
	// A tampered body is refused before anything is read.
	tampered := []byte(strings.Replace(string(event), "1500", "9999", 1))
	wantProblem(t, s.Do(t, Request{Method: "POST", Path: "/v1/webhooks/stripe", Body: tampered,
		Headers: map[string]string{"Stripe-Signature": stripeevents.Sign(event, WebhookSecret, time.Now())}}), 400, "invalid_signature")
	wantProblem(t, s.Do(t, Request{Method: "POST", Path: "/v1/webhooks/stripe", Body: event}), 400, "invalid_signature")

	// The same event delivered concurrently: one credit.
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() {
			r := s.Do(t, Request{Method: "POST", Path: "/v1/webhooks/stripe", Body: event,
				Headers: map[string]string{"Stripe-Signature": stripeevents.Sign(event, WebhookSecret, time.Now())}})
			if r.Status != 200 || string(r.Body) != `{"received":true}` {
				t.Errorf("webhook: %d %s", r.Status, r.Body)
			}
		})
	}
	wg.Wait()
	w := balance(t, s, tok)
	if w["balance_cents"].(float64) != 1500 || w["available_cents"].(float64) != 1500 || w["held_cents"].(float64) != 0 || w["currency"] != "usd" {
		t.Fatalf("wallet %v", w)
	}
	r = s.Do(t, Request{Method: "GET", Path: "/v1/wallet/transactions", Token: tok})
	if r.Status != 200 {
		t.Fatalf("transactions: %d %s", r.Status, r.Body)
	}
	var list struct {
		Items []struct {
			Kind              string `json:"kind"`
			AmountCents       int64  `json:"amount_cents"`
			BalanceAfterCents int64  `json:"balance_after_cents"`
			Reference         *struct {
				Type string `json:"type"`
				ID   string `json:"id"`
			} `json:"reference"`
			CreatedAt string `json:"created_at"`
		} `json:"items"`
		NextCursor *string `json:"next_cursor"`
	}
	if err := json.Unmarshal(r.Body, &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 || list.Items[0].Kind != "deposit" || list.Items[0].AmountCents != 1500 ||
		list.Items[0].BalanceAfterCents != 1500 || list.Items[0].Reference == nil || list.NextCursor != nil {
		t.Fatalf("transactions %s", r.Body)
	}
	if r := s.Do(t, Request{Method: "GET", Path: "/v1/wallet/topups/" + topID, Token: tok}); r.JSON(t)["status"] != "paid" {
		t.Fatalf("topup after webhook: %s", r.Body)
	}
	if r := s.Do(t, Request{Method: "GET", Path: "/v1/wallet/transactions?kind=fee", Token: tok}); r.Status != 200 || !strings.Contains(string(r.Body), `"items":[]`) {
		t.Fatalf("kind filter: %d %s", r.Status, r.Body)
	}
}

// receiver is a local stand-in for an n8n webhook.
type receiver struct {
	*httptest.Server
	calls  atomic.Int64
	status atomic.Int64
	mu     sync.Mutex
	last   http.Header
	body   string
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{}
	rc.status.Store(200)
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rc.calls.Add(1)
		rc.mu.Lock()
		rc.last, rc.body = r.Header.Clone(), string(b)
		rc.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(int(rc.status.Load()))
		_, _ = w.Write([]byte(`{"echo":` + string(b) + `}`))
	}))
	t.Cleanup(rc.Close)
	return rc
}

// TestPaidRuns: admin catalog, paid sync and async runs, failure costs
// nothing, 402, another user's run is a 404, admin views.
func TestPaidRuns(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{RunsPerMinute: 100})
	rc := newReceiver(t)
	admin := s.Admin(t)
	tok, _, userID := s.Signup(t, "runner@example.com", "password-1")

	// Admin creates the workflow; the secret is write-only.
	wf := map[string]any{
		"slug": "echo", "name": "Echo", "description": "Answers its input", "webhook_url": rc.URL + "/webhook/echo",
		"auth_header_name": "X-N8N-Auth", "auth_header_value": "s3cr3t-value", "fee_cents": 10, "timeout_ms": 5000,
	}
	r := s.Do(t, Request{Method: "POST", Path: "/v1/admin/workflows", Token: admin, Body: wf})
	if r.Status != 201 {
		t.Fatalf("create workflow: %d %s", r.Status, r.Body)
	}
	if strings.Contains(string(r.Body), "s3cr3t-value") || r.JSON(t)["auth_configured"] != true {
		t.Fatalf("admin workflow %s", r.Body)
	}
	wantProblem(t, s.Do(t, Request{Method: "POST", Path: "/v1/admin/workflows", Token: admin, Body: wf}), 409, "slug_taken")
	wantProblem(t, s.Do(t, Request{Method: "POST", Path: "/v1/admin/workflows", Token: tok, Body: wf}), 403, "forbidden")
	r = s.Do(t, Request{Method: "GET", Path: "/v1/admin/workflows", Token: admin})
	if r.Status != 200 || strings.Contains(string(r.Body), "s3cr3t-value") || !strings.Contains(string(r.Body), `"auth_configured":true`) {
		t.Fatalf("admin list: %d %s", r.Status, r.Body)
	}
	r = s.Do(t, Request{Method: "GET", Path: "/v1/workflows", Token: tok})
	if r.Status != 200 || !strings.Contains(string(r.Body), `"slug":"echo"`) || strings.Contains(string(r.Body), "webhook_url") {
		t.Fatalf("workflows: %d %s", r.Status, r.Body)
	}

	// No money: 402 and n8n never called.
	wantProblem(t, s.Do(t, Request{Method: "POST", Path: "/v1/workflows/echo/runs", Token: tok, Body: map[string]any{"input": map[string]any{"a": 1}}}), 402, "insufficient_funds")
	if rc.calls.Load() != 0 {
		t.Fatal("the receiver was called for an unpaid run")
	}
	wantProblem(t, s.Do(t, Request{Method: "POST", Path: "/v1/workflows/nope/runs", Token: tok, Body: map[string]any{"input": map[string]any{}}}), 404, "workflow_not_found")

	// Admin credits 25 cents; an adjustment that would go negative is 422.
	r = s.Do(t, Request{Method: "POST", Path: "/v1/admin/users/" + userID + "/adjustments", Token: admin,
		Body: map[string]any{"amount_cents": 25, "reason": "welcome credit"}, Headers: map[string]string{"Idempotency-Key": "adj-1"}})
	if r.Status != 201 || r.JSON(t)["kind"] != "adjustment" || r.JSON(t)["amount_cents"].(float64) != 25 {
		t.Fatalf("adjustment: %d %s", r.Status, r.Body)
	}
	wantProblem(t, s.Do(t, Request{Method: "POST", Path: "/v1/admin/users/" + userID + "/adjustments", Token: admin,
		Body: map[string]any{"amount_cents": -1000, "reason": "too much"}, Headers: map[string]string{"Idempotency-Key": "adj-2"}}), 422, "insufficient_funds")

	// A paid sync run.
	r = s.Do(t, Request{Method: "POST", Path: "/v1/workflows/echo/runs", Token: tok, Body: map[string]any{"input": map[string]any{"a": 1}}})
	if r.Status != 200 {
		t.Fatalf("run: %d %s", r.Status, r.Body)
	}
	run := r.JSON(t)
	if run["status"] != "succeeded" || run["charged_cents"].(float64) != 10 || run["workflow"] != "echo" ||
		run["input"].(map[string]any)["a"].(float64) != 1 || run["output"] == nil || run["duration_ms"] == nil {
		t.Fatalf("run %s", r.Body)
	}
	rc.mu.Lock()
	if rc.last.Get("X-N8N-Auth") != "s3cr3t-value" || rc.last.Get("X-Run-ID") != run["id"] || !jsonEqual(rc.body, `{"a":1}`) {
		t.Errorf("receiver saw headers %v body %s", rc.last, rc.body)
	}
	rc.mu.Unlock()
	if w := balance(t, s, tok); w["balance_cents"].(float64) != 15 {
		t.Fatalf("balance after a run: %v", w)
	}

	// A failing receiver: 502 workflow_failed carrying the run, nothing charged.
	rc.status.Store(500)
	m := wantProblem(t, s.Do(t, Request{Method: "POST", Path: "/v1/workflows/echo/runs", Token: tok, Body: map[string]any{"input": map[string]any{}}}), 502, "workflow_failed")
	failed := m["run"].(map[string]any)
	if failed["status"] != "failed" || failed["charged_cents"].(float64) != 0 || failed["http_status"].(float64) != 500 {
		t.Fatalf("failed run %v", failed)
	}
	if w := balance(t, s, tok); w["balance_cents"].(float64) != 15 || w["held_cents"].(float64) != 0 {
		t.Fatalf("balance after a failed run: %v", w)
	}
	rc.status.Store(200)

	// Async: 202 queued, then succeeded.
	r = s.Do(t, Request{Method: "POST", Path: "/v1/workflows/echo/runs?async=true", Token: tok, Body: map[string]any{"input": map[string]any{"b": 2}}})
	if r.Status != 202 || r.JSON(t)["status"] != "queued" {
		t.Fatalf("async: %d %s", r.Status, r.Body)
	}
	asyncID := r.JSON(t)["id"].(string)
	deadline := time.Now().Add(20 * time.Second)
	for {
		r = s.Do(t, Request{Method: "GET", Path: "/v1/runs/" + asyncID, Token: tok})
		if r.Status == 200 && r.JSON(t)["status"] == "succeeded" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("async run did not succeed: %d %s", r.Status, r.Body)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Lists and isolation between users.
	r = s.Do(t, Request{Method: "GET", Path: "/v1/runs?status=failed", Token: tok})
	// Two failed runs: the unpaid one (402, never called) and the 500.
	if r.Status != 200 || strings.Count(string(r.Body), `"status":"failed"`) != 2 || strings.Contains(string(r.Body), `"status":"succeeded"`) {
		t.Fatalf("runs?status=failed: %d %s", r.Status, r.Body)
	}
	otherTok, _, _ := s.Signup(t, "snoop@example.com", "password-1")
	wantProblem(t, s.Do(t, Request{Method: "GET", Path: "/v1/runs/" + run["id"].(string), Token: otherTok}), 404, "not_found")
	if r := s.Do(t, Request{Method: "GET", Path: "/v1/runs", Token: otherTok}); r.Status != 200 || !strings.Contains(string(r.Body), `"items":[]`) {
		t.Fatalf("other user's runs: %s", r.Body)
	}

	// Admin views.
	r = s.Do(t, Request{Method: "GET", Path: "/v1/admin/users?q=runner", Token: admin})
	if r.Status != 200 || !strings.Contains(string(r.Body), `"balance_cents":5`) {
		t.Fatalf("admin users: %d %s", r.Status, r.Body)
	}
	r = s.Do(t, Request{Method: "GET", Path: "/v1/admin/users/" + userID, Token: admin})
	if r.Status != 200 {
		t.Fatalf("admin user: %d %s", r.Status, r.Body)
	}
	detail := r.JSON(t)
	if detail["wallet"].(map[string]any)["balance_cents"].(float64) != 5 || len(detail["recent_runs"].([]any)) != 4 || len(detail["recent_transactions"].([]any)) != 3 {
		t.Fatalf("admin user detail %s", r.Body)
	}
	r = s.Do(t, Request{Method: "GET", Path: "/v1/admin/runs?user_id=" + userID, Token: admin})
	if r.Status != 200 || !strings.Contains(string(r.Body), `"user_id":"`+userID+`"`) {
		t.Fatalf("admin runs: %d %s", r.Status, r.Body)
	}
	r = s.Do(t, Request{Method: "GET", Path: "/v1/admin/transactions?kind=fee&user_id=" + userID, Token: admin})
	if r.Status != 200 || strings.Count(string(r.Body), `"kind":"fee"`) != 2 {
		t.Fatalf("admin transactions: %d %s", r.Status, r.Body)
	}
	r = s.Do(t, Request{Method: "PATCH", Path: "/v1/admin/workflows/echo", Token: admin, Body: map[string]any{"fee_cents": 20, "active": false}})
	if r.Status != 200 || r.JSON(t)["fee_cents"].(float64) != 20 || r.JSON(t)["active"] != false {
		t.Fatalf("patch workflow: %d %s", r.Status, r.Body)
	}
	wantProblem(t, s.Do(t, Request{Method: "PATCH", Path: "/v1/admin/workflows/echo", Token: admin, Body: map[string]any{"slug": "x"}}), 400, "validation_failed")
}

// TestRunRateLimit: over the per-user run budget the gateway answers 429
// and neither the workflow service nor the wallet sees the request.
func TestRunRateLimit(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{RunsPerMinute: 3})
	rc := newReceiver(t)
	admin := s.Admin(t)
	tok, _, userID := s.Signup(t, "limited@example.com", "password-1")
	if r := s.Do(t, Request{Method: "POST", Path: "/v1/admin/workflows", Token: admin, Body: map[string]any{
		"slug": "echo", "name": "Echo", "webhook_url": rc.URL, "fee_cents": 10, "timeout_ms": 5000,
	}}); r.Status != 201 {
		t.Fatalf("create workflow: %d %s", r.Status, r.Body)
	}
	if r := s.Do(t, Request{Method: "POST", Path: "/v1/admin/users/" + userID + "/adjustments", Token: admin,
		Body: map[string]any{"amount_cents": 100, "reason": "test"}, Headers: map[string]string{"Idempotency-Key": "adj-1"}}); r.Status != 201 {
		t.Fatalf("adjust: %d %s", r.Status, r.Body)
	}
	for i := range 3 {
		r := s.Do(t, Request{Method: "POST", Path: "/v1/workflows/echo/runs", Token: tok, Body: map[string]any{"input": map[string]any{}}})
		if r.Status != 200 || r.Header.Get("RateLimit-Limit") != "3" {
			t.Fatalf("run %d: %d %s", i, r.Status, r.Body)
		}
	}
	r := s.Do(t, Request{Method: "POST", Path: "/v1/workflows/echo/runs", Token: tok, Body: map[string]any{"input": map[string]any{}}})
	wantProblem(t, r, 429, "rate_limited")
	if r.Header.Get("Retry-After") == "" || r.Header.Get("RateLimit-Remaining") != "0" {
		t.Fatalf("429 headers %v", r.Header)
	}
	if rc.calls.Load() != 3 {
		t.Fatalf("receiver called %d times, want 3", rc.calls.Load())
	}
	if w := balance(t, s, tok); w["balance_cents"].(float64) != 70 || w["held_cents"].(float64) != 0 {
		t.Fatalf("wallet %v", w)
	}
	r = s.Do(t, Request{Method: "GET", Path: "/v1/runs", Token: tok})
	if strings.Count(string(r.Body), `"status":"succeeded"`) != 3 {
		t.Fatalf("runs %s", r.Body)
	}
}

func jsonEqual(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return string(xb) == string(yb)
}
