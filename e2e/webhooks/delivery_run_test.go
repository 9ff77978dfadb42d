package webhooks

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/meterflow/meterflow/e2e/stack"
	"github.com/meterflow/meterflow/platform/stdwebhooks"
)

// TestDeliveryOfARun is the README's "Receive webhooks locally": a paid
// run that succeeds reaches the user's endpoint as run.succeeded, signed
// with the endpoint's secret, its data the Run as GET /v1/runs/{id} shows
// it; a run whose workflow fails arrives as run.failed, charged nothing.
func TestDeliveryOfARun(t *testing.T) {
	t.Parallel()
	s := stack.Start(t, stack.Options{})
	admin := s.Admin(t)
	ada, _, adaID := s.Signup(t, "ada-"+stack.RandomHex()+"@example.com", "correct horse battery")
	n8n := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/fail" {
			http.Error(w, "boom", http.StatusInternalServerError)
			return
		}
		_, _ = w.Write([]byte(`{"hello":"ada"}`))
	}))
	t.Cleanup(n8n.Close)
	for slug, path := range map[string]string{"greet": "/greet", "broken": "/fail"} {
		r := s.Do(t, stack.Request{Method: "POST", Path: "/v1/admin/workflows", Token: admin, Body: map[string]any{
			"slug": slug, "name": slug, "description": "", "webhook_url": n8n.URL + path, "fee_cents": 10, "timeout_ms": 5000, "active": true,
		}})
		if r.Status != http.StatusCreated {
			t.Fatalf("workflow %s: %d %s", slug, r.Status, r.Body)
		}
	}
	r := s.Do(t, stack.Request{Method: "POST", Path: "/v1/admin/users/" + adaID + "/adjustments", Token: admin,
		Body: map[string]any{"amount_cents": 100, "reason": "credit"}, Headers: map[string]string{"Idempotency-Key": uuid.NewString()}})
	if r.Status != http.StatusCreated {
		t.Fatalf("credit: %d %s", r.Status, r.Body)
	}
	rcv := startReceiver(t)
	ep := createEndpoint(t, s, ada, rcv.URL+"/hooks", "run.succeeded", "run.failed")
	key, err := stdwebhooks.ParseSecret(ep["secret"].(string))
	if err != nil {
		t.Fatal(err)
	}

	for i, c := range []struct{ slug, typ, status string }{
		{"greet", "run.succeeded", "succeeded"},
		{"broken", "run.failed", "failed"},
	} {
		run := s.Do(t, stack.Request{Method: "POST", Path: "/v1/workflows/" + c.slug + "/runs", Token: ada, Body: map[string]any{"input": map[string]any{"name": "ada"}}})
		if run.Status != http.StatusOK && run.Status != http.StatusBadGateway {
			t.Fatalf("run %s: %d %s", c.slug, run.Status, run.Body)
		}
		var runID string
		if run.Status == http.StatusOK {
			runID = run.JSON(t)["id"].(string)
		} else {
			runID = run.JSON(t)["run"].(map[string]any)["id"].(string)
		}
		req, body := rcv.request(t, i)
		if err := stdwebhooks.Verify(body, req.Header, time.Now(), key); err != nil {
			t.Fatalf("%s: signature: %v", c.typ, err)
		}
		var event struct {
			Type string         `json:"type"`
			Data map[string]any `json:"data"`
		}
		if err := json.Unmarshal(body, &event); err != nil {
			t.Fatal(err)
		}
		shown := s.Do(t, stack.Request{Method: "GET", Path: "/v1/runs/" + runID, Token: ada}).JSON(t)
		if event.Type != c.typ || event.Data["id"] != runID || event.Data["status"] != c.status || event.Data["charged_cents"] != shown["charged_cents"] {
			t.Fatalf("event %s %v, want %s of run %s as shown: %v", event.Type, event.Data, c.typ, runID, shown)
		}
	}
}
