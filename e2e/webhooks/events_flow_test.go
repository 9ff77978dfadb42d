package webhooks

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/meterflow/meterflow/e2e/stack"
	"github.com/meterflow/meterflow/platform/stdwebhooks"
)

// TestProducedEventsReachTheEndpoint: a user registers an endpoint on a
// local receiver, tops up (Stripe reports the payment twice), sets a
// low-balance threshold, and runs workflows: sync and async successes, a
// failure. The receiver gets each event once per webhook-id, signed with
// the endpoint's secret, and each event's data equals what the public API
// answers for the same object: GET /v1/runs/{id} for run.*, GET
// /v1/wallet/topups/{id} for topup.paid, GET /v1/wallet right after the
// capture for wallet.low_balance. Another user's endpoint gets nothing.
func TestProducedEventsReachTheEndpoint(t *testing.T) {
	t.Parallel()
	s := stack.Start(t, stack.Options{})
	admin := s.Admin(t)
	n8n := fakeN8n(t)
	greet, broken := "greet-"+stack.RandomHex()[:6], "broken-"+stack.RandomHex()[:6]
	createWorkflow(t, s, admin, greet, n8n.URL+"/ok")
	createWorkflow(t, s, admin, broken, n8n.URL+"/fail")

	ada, _, adaID := s.Signup(t, "ada-"+stack.RandomHex()+"@example.com", "correct horse battery")
	rcv := startReceiver(t)
	ep := createEndpoint(t, s, ada, rcv.URL+"/hooks", producedEvents...)
	key, err := stdwebhooks.ParseSecret(ep["secret"].(string))
	if err != nil {
		t.Fatal(err)
	}
	bob, _, _ := s.Signup(t, "bob-"+stack.RandomHex()+"@example.com", "correct horse battery")
	bobs := startReceiver(t)
	createEndpoint(t, s, bob, bobs.URL+"/hooks", producedEvents...)

	// topup.paid: one, however often Stripe reports the payment.
	topUp := payTopUp(t, s, ada, adaID, 1000)
	// wallet.low_balance: the first run takes the balance from 1000 to 990.
	if r := s.Do(t, stack.Request{Method: "PATCH", Path: "/v1/wallet/settings", Token: ada,
		Body: map[string]any{"low_balance_threshold_cents": 995}}); r.Status != http.StatusOK {
		t.Fatalf("settings: %d %s", r.Status, r.Body)
	}
	r := s.Do(t, stack.Request{Method: "POST", Path: "/v1/workflows/" + greet + "/runs", Token: ada,
		Body: map[string]any{"input": map[string]any{"name": "Ada <&>"}}})
	if r.Status != http.StatusOK {
		t.Fatalf("sync run: %d %s", r.Status, r.Body)
	}
	syncRun := r.JSON(t)["id"].(string)
	walletAfterCrossing := s.Do(t, stack.Request{Method: "GET", Path: "/v1/wallet", Token: ada}).Body
	r = s.Do(t, stack.Request{Method: "POST", Path: "/v1/workflows/" + broken + "/runs", Token: ada,
		Body: map[string]any{"input": map[string]any{"n": 2}}})
	if r.Status != http.StatusBadGateway {
		t.Fatalf("failing run: %d %s", r.Status, r.Body)
	}
	failedRun := r.JSON(t)["run"].(map[string]any)["id"].(string)
	r = s.Do(t, stack.Request{Method: "POST", Path: "/v1/workflows/" + greet + "/runs?async=true", Token: ada,
		Body: map[string]any{"input": map[string]any{"n": 3}}})
	if r.Status != http.StatusAccepted {
		t.Fatalf("async run: %d %s", r.Status, r.Body)
	}
	asyncRun := r.JSON(t)["id"].(string)

	waitEvents(t, rcv, key, 5)
	time.Sleep(500 * time.Millisecond) // room for an event that must not come
	got, requests := verifiedEvents(t, rcv, key)
	if len(got) != 5 {
		t.Fatalf("%d distinct events in %d requests, want 5: %v", len(got), requests, got)
	}
	want := map[string]struct {
		typ, path string
		body      []byte
	}{
		syncRun:   {"run.succeeded", "/v1/runs/" + syncRun, nil},
		failedRun: {"run.failed", "/v1/runs/" + failedRun, nil},
		asyncRun:  {"run.succeeded", "/v1/runs/" + asyncRun, nil},
		topUp:     {"topup.paid", "/v1/wallet/topups/" + topUp, nil},
		"wallet":  {"wallet.low_balance", "", nil},
	}
	seen := map[string]bool{}
	for id, d := range got {
		ts, err := time.Parse(time.RFC3339Nano, d.Timestamp)
		if d.Type == "" || err != nil || time.Since(ts) > 5*time.Minute {
			t.Fatalf("event %s: type %q, timestamp %q: %v", id, d.Type, d.Timestamp, err)
		}
		if d.Type == "wallet.low_balance" {
			seen["wallet"] = true
			var w map[string]json.RawMessage
			if err := json.Unmarshal(d.Data, &w); err != nil {
				t.Fatal(err)
			}
			sameJSON(t, "wallet.low_balance's wallet", w["wallet"], walletAfterCrossing)
			sameJSON(t, "wallet.low_balance's threshold", w["low_balance_threshold_cents"], []byte("995"))
			continue
		}
		var obj struct{ ID string }
		if err := json.Unmarshal(d.Data, &obj); err != nil {
			t.Fatal(err)
		}
		w, ok := want[obj.ID]
		if !ok || seen[obj.ID] || w.typ != d.Type {
			t.Fatalf("unexpected %s for %s (or twice under two webhook-ids): %s", d.Type, obj.ID, d.Data)
		}
		seen[obj.ID] = true
		api := s.Do(t, stack.Request{Method: "GET", Path: w.path, Token: ada})
		if api.Status != http.StatusOK {
			t.Fatalf("GET %s: %d %s", w.path, api.Status, api.Body)
		}
		sameJSON(t, d.Type+" "+obj.ID, d.Data, api.Body)
	}
	if len(seen) != len(want) {
		t.Fatalf("events for %v, want %d objects", seen, len(want))
	}
	bobs.mu.Lock()
	defer bobs.mu.Unlock()
	if n := len(bobs.got); n != 0 {
		t.Fatalf("another user's endpoint got %d requests", n)
	}
}
