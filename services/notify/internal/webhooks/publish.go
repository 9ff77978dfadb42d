package webhooks

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/meterflow/meterflow/platform/idempotency"
	"github.com/meterflow/meterflow/platform/validation"
)

// MaxDataBytes bounds an event's data: a Run with its largest input
// (256 KiB) and output (1 MiB), escaped, fits, under gRPC's 4 MiB message
// cap (grpcservice.MaxMessageBytes).
const MaxDataBytes = 3 << 20

// MaxKeyLen bounds a producer's idempotency key.
const MaxKeyLen = 255

// PublishRequest is one event a service publishes (NotifyService.PublishEvent).
type PublishRequest struct {
	// Producer is the calling service, from its service token.
	Producer       string
	IdempotencyKey string
	UserID         uuid.UUID
	Type           string
	// Data is the event's data, a JSON object.
	Data       []byte
	OccurredAt time.Time
}

// PublishEvent checks r, stores the event and fans it out, in one
// transaction, to the user's enabled endpoints subscribed to its type
// (one delivery each, its first attempt queued). A repeat of the
// producer's key stores nothing and returns the first event's id with
// created=false; the same key with another request is
// idempotency.ErrKeyReused. A user without endpoints gets none: the event
// is stored all the same, so a repeat is still recognised.
func (s *Service) PublishEvent(ctx context.Context, r PublishRequest) (uuid.UUID, bool, error) {
	ev, err := s.prepare(r)
	if err != nil {
		return uuid.Nil, false, err
	}
	return s.publish(ctx, ev)
}

// prepare checks r and makes its event, stamped now.
func (s *Service) prepare(r PublishRequest) (Event, error) {
	var v validation.Error
	if n := utf8.RuneCountInString(r.IdempotencyKey); n < 1 || n > MaxKeyLen {
		v.Add("idempotency_key", fmt.Sprintf("must be 1 to %d characters", MaxKeyLen))
	}
	if r.UserID == uuid.Nil {
		v.Add("user_id", "must be a user id (a UUID)")
	}
	if !Subscribable(r.Type) {
		v.Add("type", "must be one of run.succeeded, run.failed, topup.paid, wallet.low_balance")
	}
	if r.OccurredAt.IsZero() {
		v.Add("occurred_at_unix_ms", "is required")
	}
	body, err := eventBody(r.Type, r.OccurredAt, r.Data)
	if err != nil {
		v.Add("data_json", err.Error())
	}
	if err := v.Err(); err != nil {
		return Event{}, err
	}
	return Event{
		ID: uuid.Must(uuid.NewV7()), Producer: r.Producer, IdempotencyKey: r.IdempotencyKey,
		RequestHash: idempotency.Hash(r.UserID.String(), r.Type, string(body)), UserID: r.UserID, Type: r.Type,
		Body: body, OccurredAt: r.OccurredAt, CreatedAt: s.now(),
	}, nil
}

// publish stores ev and fans it out (PublishEvent after its checks).
func (s *Service) publish(ctx context.Context, ev Event) (uuid.UUID, bool, error) {
	fanned := 0
	stored, created, err := s.store.PublishEvent(ctx, ev, func(ep Endpoint) Delivery {
		fanned++
		return newDelivery(ev, ep, ev.CreatedAt)
	})
	if err != nil {
		return uuid.Nil, false, fmt.Errorf("publish %s event: %w", ev.Type, err)
	}
	if !created && !bytes.Equal(stored.RequestHash, ev.RequestHash) {
		return uuid.Nil, false, idempotency.ErrKeyReused
	}
	if created {
		s.log.InfoContext(ctx, "webhook event stored", "event_id", stored.ID, "type", stored.Type, "producer", stored.Producer, "deliveries", fanned)
	}
	return stored.ID, created, nil
}

// eventBody is the body every attempt POSTs:
// {"type","timestamp","data"}, data compacted.
func eventBody(typ string, at time.Time, data []byte) ([]byte, error) {
	if len(data) > MaxDataBytes {
		return nil, fmt.Errorf("must be at most %d bytes", MaxDataBytes)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, data); err != nil || compact.Len() == 0 || compact.Bytes()[0] != '{' {
		return nil, fmt.Errorf("must be a JSON object")
	}
	return json.Marshal(struct {
		Type      string          `json:"type"`
		Timestamp string          `json:"timestamp"`
		Data      json.RawMessage `json:"data"`
	}{typ, at.UTC().Format(time.RFC3339Nano), compact.Bytes()})
}

// newDelivery is ev's delivery to ep, due now.
func newDelivery(ev Event, ep Endpoint, now time.Time) Delivery {
	return Delivery{ID: uuid.Must(uuid.NewV7()), EndpointID: ep.ID, EventID: ev.ID, UserID: ev.UserID,
		EventType: ev.Type, Status: StatusPending, NextAttemptAt: &now, CreatedAt: now}
}
