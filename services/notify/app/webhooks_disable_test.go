package app_test

import (
	"context"
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
	// The metrics count it: one failed attempt and delivery, one endpoint gone.
	reg := hh.app.Registry
	for name, labels := range map[string]map[string]string{
		"webhook_attempts_total":           {"result": "http_error"},
		"webhook_deliveries_total":         {"outcome": "failed"},
		"webhook_endpoints_disabled_total": {"reason": "gone"},
	} {
		if m := series(t, reg, name, labels); m == nil || value(m) != 1 {
			t.Errorf("%s%v = %v, want 1", name, labels, m)
		}
	}
	if m := series(t, reg, "webhook_delivery_oldest_due_age_seconds", nil); m == nil || value(m) != 0 {
		t.Errorf("oldest due = %v, want 0 with nothing due", m)
	}
	// A delivery due for half a minute and not attempted shows in the gauge.
	if _, err := hh.pool.Exec(context.Background(), `UPDATE webhook_deliveries SET status = 'pending', finished_at = NULL,
		next_attempt_at = now() - interval '30 seconds'`); err != nil {
		t.Fatal(err)
	}
	if m := series(t, reg, "webhook_delivery_oldest_due_age_seconds", nil); m == nil || value(m) < 29 || value(m) > 120 {
		t.Errorf("oldest due = %v, want about 30", m)
	}
	if _, err := hh.pool.Exec(context.Background(), `UPDATE webhook_deliveries SET status = 'failed', finished_at = now(), next_attempt_at = NULL`); err != nil {
		t.Fatal(err)
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

// TestWebhookAbandonedDeliveryFails: a pending delivery whose job ended
// without recording an outcome (the process died in its last attempt) is
// failed by the periodic pass, saying so, instead of staying pending.
func TestWebhookAbandonedDeliveryFails(t *testing.T) {
	t.Parallel()
	hh := setupHooks(t, nil)
	user := hh.identity.addUser("ada@example.com", true)
	rcv := startReceiver(t, always(200))
	ep := hh.create(t, user, rcv.URL, "run.succeeded")
	hh.publish(t, user, "run.succeeded", map[string]any{"id": "r1"})
	hh.waitDelivery(t, user, ep.GetEndpoint().GetId(), settled)
	hh.stop()
	// As a job cut short in its last attempt leaves it: pending, no job.
	if _, err := hh.pool.Exec(context.Background(), `UPDATE webhook_deliveries SET status = 'pending', finished_at = NULL, next_attempt_at = NULL`); err != nil {
		t.Fatal(err)
	}
	hh.start(t) // the pass runs at start, then every AbandonedInterval
	d := hh.waitDelivery(t, user, ep.GetEndpoint().GetId(), settled)
	if d.GetStatus() != "failed" || !strings.Contains(d.GetLastError(), "ended without a result") {
		t.Fatalf("delivery = %v", d)
	}
}
