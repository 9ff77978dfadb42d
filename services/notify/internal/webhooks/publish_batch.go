package webhooks

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"

	"github.com/meterflow/meterflow/platform/idempotency"
	"github.com/meterflow/meterflow/platform/validation"
)

// MaxBatch bounds the events of one PublishEvents call.
const MaxBatch = 500

// PublishResult is PublishEvents' answer for one event: what PublishEvent
// would have answered for it alone.
type PublishResult struct {
	EventID uuid.UUID
	Created bool
	// Err is the event's refusal: a *validation.Error or
	// idempotency.ErrKeyReused. Nothing else fails one event alone.
	Err error
}

// PublishEvents checks and stores rs as PublishEvent would one by one,
// answering each in its order, in as few statements as it can: every
// valid event nobody is subscribed to is stored by one INSERT (the common
// case); the others (a subscribed endpoint, a key seen before, a key
// repeated in the batch) take PublishEvent's own path, each under its
// trace (the W3C carrier traces[i]; ctx's when empty). A refused event (its checks, a key
// reused with another event) is answered in its result; an error of the
// store fails the call as a whole, and a retry with the same keys stores
// nothing twice.
func (s *Service) PublishEvents(ctx context.Context, rs []PublishRequest, traces []map[string]string) ([]PublishResult, error) {
	if len(rs) == 0 || len(rs) > MaxBatch {
		return nil, validation.Field("events", fmt.Sprintf("must hold 1 to %d events", MaxBatch))
	}
	out := make([]PublishResult, len(rs))
	evs := make([]Event, 0, len(rs))
	at := make([]int, 0, len(rs))
	for i, r := range rs {
		ev, err := s.prepare(r)
		if err != nil {
			out[i].Err = err
			continue
		}
		evs, at = append(evs, ev), append(at, i)
	}
	if len(evs) == 0 {
		return out, nil
	}
	stored, err := s.store.PublishUnsubscribed(ctx, evs)
	if err != nil {
		return nil, fmt.Errorf("publish %d events: %w", len(evs), err)
	}
	for j, ev := range evs {
		i := at[j]
		if stored[j] {
			out[i] = PublishResult{EventID: ev.ID, Created: true}
			s.log.InfoContext(ctx, "webhook event stored", "event_id", ev.ID, "type", ev.Type, "producer", ev.Producer, "deliveries", 0)
			continue
		}
		evCtx := ctx
		if i < len(traces) && len(traces[i]) > 0 {
			evCtx = otel.GetTextMapPropagator().Extract(ctx, propagation.MapCarrier(traces[i]))
		}
		id, created, err := s.publish(evCtx, ev)
		if err != nil && !errors.Is(err, idempotency.ErrKeyReused) {
			return nil, err
		}
		out[i] = PublishResult{EventID: id, Created: created, Err: err}
	}
	return out, nil
}
