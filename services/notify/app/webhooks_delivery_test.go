package app_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/meterflow/meterflow/platform/stdwebhooks"
	notifyv1 "github.com/meterflow/meterflow/proto/gen/meterflow/notify/v1"
)

// TestWebhookDeliverySigned: an event reaches the subscribed endpoint as
// the contract's body, signed so that the secret shown at creation
// verifies it, with the delivery's id as webhook-id.
func TestWebhookDeliverySigned(t *testing.T) {
	t.Parallel()
	hh := setupHooks(t, nil)
	user := hh.identity.addUser("ada@example.com", true)
	rcv := startReceiver(t, always(200))
	ep := hh.create(t, user, rcv.URL+"/hooks", "run.succeeded")
	key, err := stdwebhooks.ParseSecret(ep.GetSecret())
	if err != nil || len(key) != 32 {
		t.Fatalf("secret %q: %v (%d bytes)", ep.GetSecret(), err, len(key))
	}
	hh.publish(t, user, "run.succeeded", map[string]any{"id": "run-1", "status": "succeeded", "charged_cents": 10})
	d := hh.waitDelivery(t, user, ep.GetEndpoint().GetId(), settled)
	if d.GetStatus() != "succeeded" || d.GetAttempts() != 1 || d.GetLastResponseStatus() != 200 || d.GetLastError() != "" {
		t.Fatalf("delivery = %v", d)
	}
	got := rcv.requests()
	if len(got) != 1 {
		t.Fatalf("receiver got %d requests", len(got))
	}
	r := got[0]
	if err := stdwebhooks.Verify(r.Body, r.Header, time.Now(), key); err != nil {
		t.Fatalf("signature does not verify with the secret: %v", err)
	}
	if r.Header.Get("webhook-id") != d.GetId() || !strings.HasPrefix(d.GetId(), "msg_") {
		t.Fatalf("webhook-id %q, delivery id %q", r.Header.Get("webhook-id"), d.GetId())
	}
	var body struct {
		Type      string         `json:"type"`
		Timestamp time.Time      `json:"timestamp"`
		Data      map[string]any `json:"data"`
	}
	if err := json.Unmarshal(r.Body, &body); err != nil {
		t.Fatal(err)
	}
	if body.Type != "run.succeeded" || body.Data["id"] != "run-1" || time.Since(body.Timestamp) > time.Minute {
		t.Fatalf("body = %s", r.Body)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type = %q", ct)
	}
}

// TestWebhookRetriesKeepTheID: a receiver failing twice gets the same
// webhook-id three times; the delivery succeeds on the third attempt and
// keeps the last failure's answer until then.
func TestWebhookRetriesKeepTheID(t *testing.T) {
	t.Parallel()
	hh := setupHooks(t, nil)
	user := hh.identity.addUser("ada@example.com", true)
	rcv := startReceiver(t, func(n int) int {
		if n <= 2 {
			return 503
		}
		return 204
	})
	ep := hh.create(t, user, rcv.URL, "topup.paid")
	hh.publish(t, user, "topup.paid", map[string]any{"id": "t-1", "amount_cents": 1000, "status": "paid"})
	d := hh.waitDelivery(t, user, ep.GetEndpoint().GetId(), settled)
	if d.GetStatus() != "succeeded" || d.GetAttempts() != 3 || d.GetLastResponseStatus() != 204 {
		t.Fatalf("delivery = %v", d)
	}
	got := rcv.requests()
	if len(got) != 3 {
		t.Fatalf("receiver got %d requests, want 3", len(got))
	}
	for i, r := range got {
		if id := r.Header.Get("webhook-id"); id != d.GetId() {
			t.Fatalf("attempt %d webhook-id = %q, want %q", i+1, id, d.GetId())
		}
		if string(r.Body) != string(got[0].Body) {
			t.Fatalf("attempt %d body differs", i+1)
		}
	}
	var attempts int
	var errs string
	if err := hh.pool.QueryRow(t.Context(), `SELECT count(*), string_agg(coalesce(error, ''), '|' ORDER BY n) FROM webhook_attempts`).Scan(&attempts, &errs); err != nil {
		t.Fatal(err)
	}
	if attempts != 3 || !strings.HasPrefix(errs, `HTTP 503: {"ok":false}|HTTP 503`) || !strings.HasSuffix(errs, "|") {
		t.Fatalf("attempts = %d, errors %q", attempts, errs)
	}
}

// TestWebhookEventFilter: an endpoint subscribed to run.failed does not
// get run.succeeded; a user's events never reach another user's endpoint.
func TestWebhookEventFilter(t *testing.T) {
	t.Parallel()
	hh := setupHooks(t, nil)
	ada := hh.identity.addUser("ada@example.com", true)
	bob := hh.identity.addUser("bob@example.com", true)
	failedOnly := startReceiver(t, always(200))
	bobs := startReceiver(t, always(200))
	ep := hh.create(t, ada, failedOnly.URL, "run.failed")
	hh.create(t, bob, bobs.URL, "run.succeeded", "run.failed")
	hh.publish(t, ada, "run.succeeded", map[string]any{"id": "r1"})
	hh.publish(t, ada, "run.failed", map[string]any{"id": "r2"})
	d := hh.waitDelivery(t, ada, ep.GetEndpoint().GetId(), settled)
	if d.GetEventType() != "run.failed" || d.GetStatus() != "succeeded" {
		t.Fatalf("delivery = %v", d)
	}
	if got := failedOnly.requests(); len(got) != 1 || !strings.Contains(string(got[0].Body), `"type":"run.failed"`) {
		t.Fatalf("ada's endpoint got %d requests", len(got))
	}
	if got := bobs.requests(); len(got) != 0 {
		t.Fatalf("bob's endpoint got %d of ada's events", len(got))
	}
}

// TestWebhookRotationSignsWithBoth: after a rotation each request carries
// two signatures, each verifying with one of the secrets; once the 24 h
// overlap has passed only the new secret signs.
func TestWebhookRotationSignsWithBoth(t *testing.T) {
	t.Parallel()
	hh := setupHooks(t, nil)
	user := hh.identity.addUser("ada@example.com", true)
	rcv := startReceiver(t, always(200))
	ep := hh.create(t, user, rcv.URL, "wallet.low_balance")
	id := ep.GetEndpoint().GetId()
	oldKey, _ := stdwebhooks.ParseSecret(ep.GetSecret())
	rot, err := hh.hooks.RotateSecret(hh.as(t, user), &notifyv1.RotateSecretRequest{Id: id})
	if err != nil {
		t.Fatal(err)
	}
	newKey, err := stdwebhooks.ParseSecret(rot.GetSecret())
	if err != nil || rot.GetSecret() == ep.GetSecret() {
		t.Fatalf("rotated secret %q: %v", rot.GetSecret(), err)
	}
	if until := rot.GetPreviousExpiresAt().AsTime(); until.Sub(hh.clock.Now()) < 23*time.Hour {
		t.Fatalf("previous secret expires at %s", until)
	}
	hh.publish(t, user, "wallet.low_balance", map[string]any{"available_cents": 40, "threshold_cents": 100})
	hh.waitDelivery(t, user, id, settled)
	r := rcv.requests()[0]
	if sigs := strings.Fields(r.Header.Get("webhook-signature")); len(sigs) != 2 {
		t.Fatalf("webhook-signature = %q, want two", r.Header.Get("webhook-signature"))
	}
	for name, k := range map[string]stdwebhooks.Key{"old": oldKey, "new": newKey} {
		if err := stdwebhooks.Verify(r.Body, r.Header, time.Now(), k); err != nil {
			t.Fatalf("the %s secret does not verify during the overlap: %v", name, err)
		}
	}

	hh.clock.Advance(25 * time.Hour)
	if _, err := hh.hooks.SendTest(hh.as(t, user), &notifyv1.SendTestRequest{Id: id}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(rcv.requests()) < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	r = rcv.requests()[1]
	if sigs := strings.Fields(r.Header.Get("webhook-signature")); len(sigs) != 1 {
		t.Fatalf("after the overlap webhook-signature = %q, want one", r.Header.Get("webhook-signature"))
	}
	if err := stdwebhooks.Verify(r.Body, r.Header, time.Now(), oldKey); err == nil {
		t.Fatal("the old secret still verifies after the overlap")
	}
	if err := stdwebhooks.Verify(r.Body, r.Header, time.Now(), newKey); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(r.Body), `"type":"ping"`) {
		t.Fatalf("test event body = %s", r.Body)
	}
}
