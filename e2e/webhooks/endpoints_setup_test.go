// Package webhooks tests outgoing webhooks through the whole stack: the
// gateway's routes, notify's rules and deliveries to receivers in the
// test (endpoints_*: the API; delivery_*: what receivers get).
package webhooks

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/meterflow/meterflow/e2e/stack"
)

// receiver is a local webhook endpoint that keeps every request.
type receiver struct {
	*httptest.Server
	mu  sync.Mutex
	got []*http.Request
	raw [][]byte
	// hold, when set, delays the answer to the n-th request (from 1).
	hold func(n int) time.Duration
}

func startReceiver(t *testing.T) *receiver {
	t.Helper()
	r := &receiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, req)
		r.raw = append(r.raw, body)
		n, hold := len(r.got), r.hold
		r.mu.Unlock()
		if hold != nil {
			time.Sleep(hold(n))
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(r.Close)
	return r
}

// request returns the n-th request (from 0) and its body once it arrived.
func (r *receiver) request(t *testing.T, n int) (*http.Request, []byte) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r.mu.Lock()
		if len(r.got) > n {
			defer r.mu.Unlock()
			return r.got[n], r.raw[n]
		}
		r.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("the receiver got no request %d in 30 s", n+1)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// createEndpoint makes an endpoint with token and returns the answer.
func createEndpoint(t *testing.T, s *stack.Stack, token, url string, events ...string) map[string]any {
	t.Helper()
	r := s.Do(t, stack.Request{Method: "POST", Path: "/v1/webhook-endpoints", Token: token,
		Body: map[string]any{"url": url, "events": events, "description": "test"}})
	if r.Status != http.StatusCreated {
		t.Fatalf("create endpoint: %d %s", r.Status, r.Body)
	}
	return r.JSON(t)
}

// waitDelivery polls the endpoint's deliveries until the first is not
// pending, and returns it.
func waitDelivery(t *testing.T, s *stack.Stack, token, endpointID string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := s.Do(t, stack.Request{Method: "GET", Path: "/v1/webhook-endpoints/" + endpointID + "/deliveries", Token: token})
		if r.Status != http.StatusOK {
			t.Fatalf("deliveries: %d %s", r.Status, r.Body)
		}
		items := r.JSON(t)["items"].([]any)
		if len(items) > 0 {
			d := items[0].(map[string]any)
			if d["status"] != "pending" {
				return d
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no settled delivery in 30 s: %s", r.Body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
