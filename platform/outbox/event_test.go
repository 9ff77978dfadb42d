package outbox_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/meterflow/meterflow/platform/outbox"
)

// TestEventReachesNotifyOnceOnlyWhenCommitted: a rolled-back change
// publishes nothing; a committed one reaches notify once, with the
// producer's key, the data's bytes as given (field order kept) and the
// time it happened, after notify was unavailable twice.
func TestEventReachesNotifyOnceOnlyWhenCommitted(t *testing.T) {
	t.Parallel()
	notify := &fakeNotify{unavailable: 2}
	client, pool := start(t, notify)
	at := time.Date(2026, 12, 7, 10, 0, 0, 123e6, time.UTC)
	data := `{"id":"r1","workflow":"echo","status":"succeeded","fee_cents":10}`
	inTx(t, pool, false, func(ctx context.Context, tx pgx.Tx) error {
		return outbox.EnqueueEvent(ctx, client, tx, outbox.Event{UserID: "u-rolled-back", Type: "run.failed", Data: []byte(`{}`)})
	})
	inTx(t, pool, true, func(ctx context.Context, tx pgx.Tx) error {
		return outbox.EnqueueEvent(ctx, client, tx, outbox.Event{UserID: "u1", Type: "run.succeeded", Data: []byte(data), OccurredAt: at})
	})
	waitJobs(t, pool)

	notify.mu.Lock()
	defer notify.mu.Unlock()
	if len(notify.events) != 1 || notify.calls != 3 {
		t.Fatalf("notify got %d events in %d calls, want 1 after 2 refused calls: %v", len(notify.events), notify.calls, notify.events)
	}
	for key, req := range notify.events {
		if !strings.HasPrefix(key, "test:") || len(key) < len("test:1") {
			t.Errorf("idempotency key %q, want test:<job id>", key)
		}
		if req.GetUserId() != "u1" || req.GetType() != "run.succeeded" || string(req.GetDataJson()) != data ||
			req.GetOccurredAtUnixMs() != at.UnixMilli() {
			t.Errorf("event = %v, want u1's run.succeeded with %s at %d", req, data, at.UnixMilli())
		}
	}
}

// TestEnqueueRefusesIncompleteEvents: a user, a type and a JSON object.
func TestEnqueueRefusesIncompleteEvents(t *testing.T) {
	t.Parallel()
	for _, e := range []outbox.Event{
		{Type: "run.failed", Data: []byte(`{}`)},
		{UserID: "u", Data: []byte(`{}`)},
		{UserID: "u", Type: "run.failed"},
		{UserID: "u", Type: "run.failed", Data: []byte(`[1]`)},
		{UserID: "u", Type: "run.failed", Data: []byte(`{"a":`)},
	} {
		if err := outbox.EnqueueEvent(context.Background(), nil, nil, e); err == nil {
			t.Errorf("EnqueueEvent(%+v) = nil, want an error", e)
		}
	}
}
