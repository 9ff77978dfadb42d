package webhooks

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"github.com/meterflow/meterflow/e2e/stack"
	"github.com/meterflow/meterflow/platform/stdwebhooks"
	"github.com/meterflow/meterflow/services/wallet/stripeevents"
)

// The event types the services publish (events_*: what the producers'
// outboxes hand to notify, as the user's endpoint receives it).
var producedEvents = []string{"run.succeeded", "run.failed", "topup.paid", "wallet.low_balance"}

// delivered is one event as the receiver got it: its webhook-id and body,
// after the signature was checked.
type delivered struct {
	ID        string
	Type      string          `json:"type"`
	Timestamp string          `json:"timestamp"`
	Data      json.RawMessage `json:"data"`
}

// verifiedEvents returns what r received so far, one entry per webhook-id
// (a redelivery of the same id is allowed: at least once), each checked
// against key; the number of requests, redeliveries included, comes too.
func verifiedEvents(t *testing.T, r *receiver, key stdwebhooks.Key) (map[string]delivered, int) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]delivered{}
	for i, req := range r.got {
		if err := stdwebhooks.Verify(r.raw[i], req.Header, time.Now(), key); err != nil {
			t.Fatalf("delivery %d: signature: %v", i, err)
		}
		var d delivered
		if err := json.Unmarshal(r.raw[i], &d); err != nil {
			t.Fatalf("delivery %d: body %s: %v", i, r.raw[i], err)
		}
		d.ID = req.Header.Get("webhook-id")
		if prev, seen := out[d.ID]; seen && (prev.Type != d.Type || string(prev.Data) != string(d.Data)) {
			t.Fatalf("webhook-id %s delivered twice with different bodies: %s / %s", d.ID, prev.Data, d.Data)
		}
		out[d.ID] = d
	}
	return out, len(r.got)
}

// waitEvents waits until r received n distinct events and returns them.
func waitEvents(t *testing.T, r *receiver, key stdwebhooks.Key, n int) map[string]delivered {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		got, _ := verifiedEvents(t, r, key)
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("the receiver got %d distinct events in 60 s, want %d: %v", len(got), n, got)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// sameJSON fails unless got and want hold the same JSON value.
func sameJSON(t *testing.T, what string, got, want []byte) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s: %s: %v", what, got, err)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("%s: the API's %s: %v", what, want, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("%s: the event's data\n %s\nthe API's\n %s", what, got, want)
	}
}

// fakeN8n answers like an n8n webhook: /ok with the input echoed, /fail
// with a 500.
func fakeN8n(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"echo":` + string(body) + `}`))
	})
	mux.HandleFunc("/fail", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(`{"message":"Error in workflow"}`))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// createWorkflow adds a workflow calling url, with a 10-cent fee.
func createWorkflow(t *testing.T, s *stack.Stack, admin, slug, url string) {
	t.Helper()
	if r := s.Do(t, stack.Request{Method: "POST", Path: "/v1/admin/workflows", Token: admin, Body: map[string]any{
		"slug": slug, "name": slug, "webhook_url": url, "fee_cents": 10,
	}}); r.Status != http.StatusCreated {
		t.Fatalf("create workflow %s: %d %s", slug, r.Status, r.Body)
	}
}

// payTopUp opens a Checkout top-up of amount for the user and delivers
// Stripe's signed checkout.session.completed for it, twice (Stripe
// delivers at least once); it returns the top-up's id.
func payTopUp(t *testing.T, s *stack.Stack, token, userID string, amount int64) string {
	t.Helper()
	r := s.Do(t, stack.Request{Method: "POST", Path: "/v1/wallet/topups", Token: token, Body: map[string]any{"amount_cents": amount}})
	if r.Status != http.StatusCreated {
		t.Fatalf("top-up: %d %s", r.Status, r.Body)
	}
	top := r.JSON(t)
	id := top["id"].(string)
	event := stripeevents.CheckoutSessionEvent("", "checkout.session.completed", stripeevents.Session{
		ID: top["checkout_session_id"].(string), TopUpID: id, UserID: userID, AmountTotal: amount,
		Currency: "usd", PaymentStatus: "paid", PaymentIntentID: "pi_" + stack.RandomHex(),
	})
	for range 2 {
		if r := s.Do(t, stack.Request{Method: "POST", Path: "/v1/webhooks/stripe", Body: event,
			Headers: map[string]string{"Stripe-Signature": stripeevents.Sign(event, stack.WebhookSecret, time.Now())}}); r.Status != http.StatusOK {
			t.Fatalf("stripe webhook: %d %s", r.Status, r.Body)
		}
	}
	return id
}
