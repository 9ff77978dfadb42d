package webhooks

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
)

// abandonedBatch bounds the deliveries one FailAbandoned pass reads.
const abandonedBatch = 500

// Abandoned is a pending delivery no job will attempt any more.
type Abandoned struct {
	ID       uuid.UUID
	Attempts int
}

// AbandonedStore finds such deliveries (postgres.WebhookStore).
type AbandonedStore interface {
	// AbandonedDeliveries returns up to limit pending deliveries that no
	// live River job will attempt.
	AbandonedDeliveries(ctx context.Context, limit int) ([]Abandoned, error)
}

// FailAbandoned marks failed the pending deliveries that no job will
// attempt any more, and returns how many: River gives up a job whose
// last attempt never returned (the process died mid-attempt) or that
// failed before an attempt on its last run (the database unreachable)
// without Deliver recording an outcome, so the delivery would stay
// pending for ever, in the lag gauge and never retried. Whether a cut-short
// attempt reached the endpoint is unknown, so the reason says so; the
// user can retry it (same webhook-id).
func (s *Service) FailAbandoned(ctx context.Context, store AbandonedStore) (int, error) {
	var total int
	for {
		ds, err := store.AbandonedDeliveries(ctx, abandonedBatch)
		if err != nil {
			return total, err
		}
		for _, d := range ds {
			why := fmt.Sprintf("the delivery's job ended without a result after attempt %d "+
				"(Meterflow stopped during it, or an operator discarded the job): whether the endpoint received it is unknown; retry it if needed", d.Attempts)
			err := s.store.FailDelivery(ctx, d.ID, why)
			if err != nil && !errors.Is(err, ErrNotPending) {
				return total, err
			}
			if err == nil {
				s.metrics.Finished(StatusFailed)
				s.log.WarnContext(ctx, "webhook delivery failed: its job ended without a result", "delivery_id", FormatDeliveryID(d.ID), "attempts", d.Attempts)
				total++
			}
		}
		if len(ds) < abandonedBatch {
			return total, nil
		}
	}
}
