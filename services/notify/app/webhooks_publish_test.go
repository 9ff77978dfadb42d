package app_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	"github.com/meterflow/meterflow/platform/rpcerr"
	notifyv1 "github.com/meterflow/meterflow/proto/gen/meterflow/notify/v1"
)

// TestPublishEventSubscribers holds PublishEvent's two paths (one
// statement when nobody is subscribed, a transaction otherwise) to the
// same answers: created once, a repeat answers the first event, the key
// with another body is refused, and only a subscribed, enabled endpoint
// gets a delivery.
func TestPublishEventSubscribers(t *testing.T) {
	t.Parallel()
	hh := setupHooks(t, nil)
	rcv := startReceiver(t, always(200))
	for _, tc := range []struct {
		name       string
		endpoint   []string // the endpoint's events; nil: no endpoint
		disabled   bool
		deliveries int
	}{
		{name: "no endpoint"},
		{name: "endpoint of another type", endpoint: []string{"topup.paid"}},
		{name: "disabled endpoint", endpoint: []string{"run.succeeded"}, disabled: true},
		{name: "subscribed endpoint", endpoint: []string{"run.succeeded", "run.failed"}, deliveries: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			user := hh.identity.addUser(uuid.NewString()+"@example.com", true)
			var epID string
			if tc.endpoint != nil {
				epID = hh.create(t, user, rcv.URL, tc.endpoint...).GetEndpoint().GetId()
				if tc.disabled {
					off := false
					if _, err := hh.hooks.UpdateEndpoint(hh.as(t, user), &notifyv1.UpdateEndpointRequest{Id: epID, Enabled: &off}); err != nil {
						t.Fatal(err)
					}
				}
			}
			req := &notifyv1.PublishEventRequest{IdempotencyKey: "workflow:" + uuid.NewString(), UserId: user, Type: "run.succeeded",
				DataJson: []byte(`{"id":"r1"}`), OccurredAtUnixMs: time.Now().UnixMilli()}
			first, err := hh.events.PublishEvent(context.Background(), req)
			if err != nil || !first.GetCreated() || first.GetEventId() == "" {
				t.Fatalf("first = %v, %v", first, err)
			}
			again, err := hh.events.PublishEvent(context.Background(), req)
			if err != nil || again.GetCreated() || again.GetEventId() != first.GetEventId() {
				t.Fatalf("repeat = %v, %v; first %s", again, err, first.GetEventId())
			}
			other := proto.Clone(req).(*notifyv1.PublishEventRequest)
			other.DataJson = []byte(`{"id":"r2"}`)
			if _, err := hh.events.PublishEvent(context.Background(), other); rpcerr.Reason(err) != rpcerr.IdempotencyKeyReused {
				t.Fatalf("reused key = %v", err)
			}
			if epID == "" {
				return
			}
			if tc.deliveries > 0 {
				hh.waitDelivery(t, user, epID, settled)
			}
			if ds := hh.deliveries(t, user, epID); len(ds) != tc.deliveries {
				t.Fatalf("deliveries = %v, want %d", ds, tc.deliveries)
			}
		})
	}
}
