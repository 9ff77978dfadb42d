package app_test

import (
	"strings"
	"testing"
	"time"

	notifyv1 "github.com/meterflow/meterflow/proto/gen/meterflow/notify/v1"
)

// TestWebhookGoneDisablesAtOnce: a 410 answer disables the endpoint after
// that one attempt, with a reason, and its owner is emailed.
func TestWebhookGoneDisablesAtOnce(t *testing.T) {
	t.Parallel()
	hh := setupHooks(t, nil)
	user := hh.identity.addUser("ada@example.com", true)
	rcv := startReceiver(t, always(410))
	ep := hh.create(t, user, rcv.URL, "run.succeeded")
	id := ep.GetEndpoint().GetId()
	hh.publish(t, user, "run.succeeded", map[string]any{"id": "r1"})
	d := hh.waitDelivery(t, user, id, settled)
	if d.GetStatus() != "failed" || d.GetAttempts() != 1 || d.GetLastResponseStatus() != 410 {
		t.Fatalf("delivery = %v", d)
	}
	enabled, reason := hh.endpointState(t, id)
	if enabled || !strings.Contains(reason, "410") {
		t.Fatalf("endpoint enabled=%v reason=%q", enabled, reason)
	}
	if n := hh.disabledEmails(t, user); n != 1 {
		t.Fatalf("%d endpoint-disabled emails queued, want 1", n)
	}
	waitN(t, func() int { return len(hh.smtp.Messages()) }, 1)
	if msg := hh.smtp.Messages()[0]; !strings.Contains(msg.Text, rcv.URL) {
		t.Fatalf("email text does not name the endpoint:\n%s", msg.Text)
	}
	list, err := hh.hooks.ListEndpoints(hh.as(t, user), &notifyv1.ListEndpointsRequest{})
	if err != nil || len(list.GetEndpoints()) != 1 || list.GetEndpoints()[0].GetEnabled() || list.GetEndpoints()[0].GetDisabledReason() == "" {
		t.Fatalf("ListEndpoints = %v, %v", list, err)
	}
	// Later events are not delivered to a disabled endpoint.
	hh.publish(t, user, "run.succeeded", map[string]any{"id": "r2"})
	if ds := hh.deliveries(t, user, id); len(ds) != 1 || len(rcv.requests()) != 1 {
		t.Fatalf("a disabled endpoint got %d deliveries, %d requests", len(ds), len(rcv.requests()))
	}
	// Enabling it again clears the reason.
	on := true
	up, err := hh.hooks.UpdateEndpoint(hh.as(t, user), &notifyv1.UpdateEndpointRequest{Id: id, Enabled: &on})
	if err != nil || !up.GetEndpoint().GetEnabled() || up.GetEndpoint().GetDisabledReason() != "" {
		t.Fatalf("re-enable = %v, %v", up, err)
	}
}

// TestWebhookDisabledAfterFiveDaysOfFailures: an endpoint whose every
// attempt fails is kept while the failures are younger than 5 days (a
// delivery that runs out of attempts fails alone), and disabled, with an
// email, at the first failed attempt once they are 5 days old.
func TestWebhookDisabledAfterFiveDaysOfFailures(t *testing.T) {
	t.Parallel()
	hh := setupHooks(t, nil)
	user := hh.identity.addUser("ada@example.com", true)
	rcv := startReceiver(t, always(500))
	ep := hh.create(t, user, rcv.URL, "run.failed")
	id := ep.GetEndpoint().GetId()

	hh.publish(t, user, "run.failed", map[string]any{"id": "r1"})
	d := hh.waitDelivery(t, user, id, settled)
	if d.GetStatus() != "failed" || d.GetAttempts() != 8 || !strings.HasPrefix(d.GetLastError(), "HTTP 500") {
		t.Fatalf("delivery = %v", d)
	}
	if enabled, _ := hh.endpointState(t, id); !enabled {
		t.Fatal("endpoint disabled after one day's worth of failures")
	}

	hh.clock.Advance(4*24*time.Hour + 23*time.Hour)
	hh.publish(t, user, "run.failed", map[string]any{"id": "r2"})
	waitN(t, func() int { return len(rcv.requests()) }, 16)
	if enabled, _ := hh.endpointState(t, id); !enabled {
		t.Fatal("endpoint disabled before 5 days of failures")
	}

	hh.clock.Advance(2 * time.Hour)
	hh.publish(t, user, "run.failed", map[string]any{"id": "r3"})
	waitN(t, func() int { return hh.disabledEmails(t, user) }, 1)
	enabled, reason := hh.endpointState(t, id)
	if enabled || !strings.Contains(reason, "5 days") {
		t.Fatalf("endpoint enabled=%v reason=%q", enabled, reason)
	}
	if got := len(rcv.requests()); got != 17 {
		t.Fatalf("receiver got %d requests, want 17 (the third event's first attempt disables)", got)
	}
	waitN(t, func() int { return len(hh.smtp.Messages()) }, 1)
}

// waitN waits until count() reaches want.
func waitN(t testing.TB, count func() int, want int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for count() < want {
		if time.Now().After(deadline) {
			t.Fatalf("count %d after 30 s, want %d", count(), want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
