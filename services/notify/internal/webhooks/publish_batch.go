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
// valid event nobody is subscribed to, the first of its key in the batch,
// is stored by one INSERT (the common case); the others (a subscribed
// endpoint, a key seen before, a key repeated in the batch) take
// PublishEvent's own path in the batch's order, each under its trace
// (the W3C carrier traces[i]; ctx's when empty). A refused event (its
// checks, a key reused with another event) is answered in its result; an
// error of the store fails the call as a whole, and a retry with the same
// keys stores nothing twice.
func (s *Service) PublishEvents(ctx context.Context, rs []PublishRequest, traces []map[string]string) ([]PublishResult, error) {
	if len(rs) == 0 || len(rs) > MaxBatch {
		return nil, validation.Field("events", fmt.Sprintf("must hold 1 to %d events", MaxBatch))
	}
	out := make([]PublishResult, len(rs))
	// The first event of each key may be stored by the one statement; a
	// later one with the same key is answered after it, one by one, as
	// PublishEvent would answer it after the first.
	var (
		evs        = make([]Event, len(rs))
		bulk       = make([]Event, 0, len(rs))
		inBulk     = make([]int, 0, len(rs))
		firstOfKey = make(map[string]bool, len(rs))
		valid      = make([]bool, len(rs))
	)
	for i, r := range rs {
		ev, err := s.prepare(r)
		if err != nil {
			out[i].Err = err
			continue
		}
		evs[i], valid[i] = ev, true
		if !firstOfKey[ev.IdempotencyKey] {
			firstOfKey[ev.IdempotencyKey] = true
			bulk, inBulk = append(bulk, ev), append(inBulk, i)
		}
	}
	stored := make([]bool, len(rs))
	if len(bulk) > 0 {
		ok, err := s.store.PublishUnsubscribed(ctx, bulk)
		if err != nil {
			return nil, fmt.Errorf("publish %d events: %w", len(bulk), err)
		}
		for j, i := range inBulk {
			stored[i] = ok[j]
		}
	}
	for i, ev := range evs {
		switch {
		case !valid[i]:
			continue
		case stored[i]:
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
