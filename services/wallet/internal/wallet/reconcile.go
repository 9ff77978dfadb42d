package wallet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// ReconcileEventTypes are the Stripe event types the wallet acts on: what
// reconciliation lists, and what the webhook endpoint must subscribe to.
var ReconcileEventTypes = []string{
	EventCheckoutCompleted, EventCheckoutAsyncSucceeded, EventCheckoutAsyncFailed, EventCheckoutExpired,
	EventChargeRefunded, EventChargeDisputeCreated, EventChargeDisputeClosed,
	EventPaymentIntentSucceeded, EventPaymentIntentFailed,
}

// ProviderEvent is one event as Stripe's API lists it.
type ProviderEvent struct {
	ID      string
	Type    string
	Created time.Time
	// Object is the raw data.object.
	Object json.RawMessage
}

// ReconcileItem is one event reconciliation applied or could not match.
type ReconcileItem struct {
	EventID string
	Type    string
	Created time.Time
	// Detail says what was done or why nothing could be.
	Detail string
}

// ReconcileReport is what one reconciliation found.
type ReconcileReport struct {
	Since     time.Time
	Seen      int
	Fixed     []ReconcileItem
	Unmatched []ReconcileItem
}

// ReconcileRun is the record of a reconciliation (reconcile_runs).
type ReconcileRun struct {
	ID         uuid.UUID
	Since      time.Time
	Seen       int
	Fixed      int
	Unmatched  int
	StartedAt  time.Time
	FinishedAt time.Time
}

// Reconcile lists Stripe's events created since since (through Stripe's
// API, paged) and applies each through the same exactly-once path as the
// webhook: an event the webhook already handled is a duplicate and changes
// nothing, so it is safe to run while webhooks arrive and as often as
// wanted. Fixed lists the events that changed something (the webhook
// missed them); Unmatched those that name one of our top-ups or users but
// could not be applied (unknown top-up, a field missing, Stripe's API
// down for the lookup): an operator must look at them (docs/operations.md).
// Events of other integrations on the account are skipped.
func (s *Service) Reconcile(ctx context.Context, since time.Time) (ReconcileReport, error) {
	started := s.now()
	rep := ReconcileReport{Since: since}
	err := s.payments.ListEvents(ctx, since, ReconcileEventTypes, func(pe ProviderEvent) error {
		rep.Seen++
		ev := stripeEvent{ID: pe.ID, Type: pe.Type, Created: pe.Created.Unix()}
		ev.Data.Object = pe.Object
		item := ReconcileItem{EventID: pe.ID, Type: pe.Type, Created: pe.Created}
		res, err := s.applyEvent(ctx, ev, SourceReconcile)
		switch {
		case errors.Is(err, ErrMalformedEvent), errors.Is(err, ErrEventNotMatchedYet):
			item.Detail = err.Error()
			rep.Unmatched = append(rep.Unmatched, item)
			return nil
		case err != nil:
			return fmt.Errorf("event %s: %w", pe.ID, err)
		}
		s.reportEvent(ctx, s.log.With("event_id", pe.ID, "event_type", pe.Type, "source", SourceReconcile), res)
		switch {
		case res.Outcome == OutcomeApplied:
			item.Detail = fmt.Sprintf("applied to top-up %s (status %s, %d ledger row(s))", res.TopUp.ID, res.TopUp.Status, len(res.Written))
			if res.TopUp.ID == uuid.Nil {
				item.Detail = "applied"
			}
			rep.Fixed = append(rep.Fixed, item)
		case res.Outcome == OutcomeUnmatched && !res.Foreign:
			item.Detail = "names a top-up or user of ours that this database does not have (or another user's)"
			rep.Unmatched = append(rep.Unmatched, item)
		}
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("reconcile: %w", err)
	}
	run := ReconcileRun{ID: newID(), Since: since, Seen: rep.Seen, Fixed: len(rep.Fixed), Unmatched: len(rep.Unmatched), StartedAt: started}
	if err := s.store.RecordReconcileRun(ctx, run); err != nil {
		return rep, fmt.Errorf("reconcile: record the run: %w", err)
	}
	s.log.InfoContext(ctx, "reconciliation done", "since", since, "events", rep.Seen, "fixed", len(rep.Fixed), "unmatched", len(rep.Unmatched))
	return rep, nil
}
