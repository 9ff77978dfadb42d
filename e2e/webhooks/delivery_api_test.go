package webhooks

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/meterflow/meterflow/e2e/stack"
	"github.com/meterflow/meterflow/platform/callauth"
	"github.com/meterflow/meterflow/platform/grpcservice"
	"github.com/meterflow/meterflow/platform/stdwebhooks"
	notifyv1 "github.com/meterflow/meterflow/proto/gen/meterflow/notify/v1"
)

// TestDeliveryThroughTheStack: a ping from the test route and an event a
// service publishes both reach the user's receiver signed with the
// secret shown at creation, with the delivery's id as webhook-id; a retry
// is 202 and a second one while it is pending 409 already_pending.
func TestDeliveryThroughTheStack(t *testing.T) {
	t.Parallel()
	s := stack.Start(t, stack.Options{})
	ada, _, adaID := s.Signup(t, "ada-"+stack.RandomHex()+"@example.com", "correct horse battery")
	rcv := startReceiver(t)
	ep := createEndpoint(t, s, ada, rcv.URL+"/hooks", "run.succeeded")
	id := ep["id"].(string)
	key, err := stdwebhooks.ParseSecret(ep["secret"].(string))
	if err != nil {
		t.Fatal(err)
	}

	r := s.Do(t, stack.Request{Method: "POST", Path: "/v1/webhook-endpoints/" + id + "/test", Token: ada})
	if r.Status != http.StatusAccepted || r.JSON(t)["event_type"] != "ping" {
		t.Fatalf("test: %d %s", r.Status, r.Body)
	}
	ping := r.JSON(t)["id"].(string)
	req, body := rcv.request(t, 0)
	if err := stdwebhooks.Verify(body, req.Header, time.Now(), key); err != nil {
		t.Fatalf("ping signature: %v", err)
	}
	if req.Header.Get("webhook-id") != ping {
		t.Fatalf("webhook-id %q, delivery %q", req.Header.Get("webhook-id"), ping)
	}
	d := waitDelivery(t, s, ada, id)
	if d["id"] != ping || d["status"] != "succeeded" || d["attempts"] != float64(1) || d["last_response_status"] != float64(204) {
		t.Fatalf("delivery = %v", d)
	}

	// An event as the workflow service publishes it (its outbox calls
	// PublishEvent with its own service token).
	minter, err := callauth.NewMinter("workflow", []byte(stack.Secret))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpcservice.Dial(s.NotifyAddr, minter.Credentials("notify"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	run := map[string]any{"id": "0193a0c4-0000-7000-8000-000000000001", "workflow": "greet", "status": "succeeded", "charged_cents": 10}
	data, _ := json.Marshal(run)
	if _, err := notifyv1.NewNotifyServiceClient(conn).PublishEvent(context.Background(), &notifyv1.PublishEventRequest{
		IdempotencyKey: "workflow:e2e-1", UserId: adaID, Type: "run.succeeded", DataJson: data, OccurredAtUnixMs: time.Now().UnixMilli(),
	}); err != nil {
		t.Fatal(err)
	}
	req, body = rcv.request(t, 1)
	if err := stdwebhooks.Verify(body, req.Header, time.Now(), key); err != nil {
		t.Fatalf("event signature: %v", err)
	}
	var got struct {
		Type string         `json:"type"`
		Data map[string]any `json:"data"`
	}
	if err := json.Unmarshal(body, &got); err != nil || got.Type != "run.succeeded" || got.Data["workflow"] != "greet" {
		t.Fatalf("event body %s: %v", body, err)
	}

	// Retry the ping: the receiver holds the answer, so the delivery is
	// pending when the second retry comes.
	rcv.mu.Lock()
	rcv.hold = func(n int) time.Duration {
		if n == 3 {
			return 2 * time.Second
		}
		return 0
	}
	rcv.mu.Unlock()
	r = s.Do(t, stack.Request{Method: "POST", Path: "/v1/webhook-deliveries/" + ping + "/retry", Token: ada})
	if r.Status != http.StatusAccepted || r.JSON(t)["status"] != "pending" {
		t.Fatalf("retry: %d %s", r.Status, r.Body)
	}
	r = s.Do(t, stack.Request{Method: "POST", Path: "/v1/webhook-deliveries/" + ping + "/retry", Token: ada})
	if r.Status != http.StatusConflict || r.JSON(t)["code"] != "already_pending" {
		t.Fatalf("second retry: %d %s", r.Status, r.Body)
	}
	if req, _ := rcv.request(t, 2); req.Header.Get("webhook-id") != ping {
		t.Fatalf("retry webhook-id = %q", req.Header.Get("webhook-id"))
	}
	r = s.Do(t, stack.Request{Method: "GET", Path: "/v1/webhook-endpoints/" + id + "/deliveries?status=failed", Token: ada})
	if r.Status != http.StatusOK || len(r.JSON(t)["items"].([]any)) != 0 {
		t.Fatalf("failed deliveries: %d %s", r.Status, r.Body)
	}
	if r := s.Do(t, stack.Request{Method: "GET", Path: "/v1/webhook-endpoints/" + id + "/deliveries?status=nope", Token: ada}); r.Status != http.StatusBadRequest {
		t.Fatalf("bad status filter: %d %s", r.Status, r.Body)
	}
}
