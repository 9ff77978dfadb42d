package postgres

import (
	"context"
	"errors"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/meterflow/meterflow/platform/outbox"
	"github.com/meterflow/meterflow/services/wallet/internal/wallet"
)

// Jobs is the wallet's River client (internal/queue), on the wallet's own
// database: the store inserts charge jobs, outbox emails and outbox events
// with it inside its transactions.
type Jobs = *river.Client[pgx.Tx]

// QueueAutoTopUp is the River queue of the automatic charges.
const QueueAutoTopUp = "auto_topup"

// AutoTopUpMaxAttempts bounds the tries of one charge job: River's backoff
// (attempt⁴ seconds) spreads 12 over about 17 hours, inside the 24 hours
// Stripe keeps an idempotency key.
const AutoTopUpMaxAttempts = 12

// AutoTopUpArgs is the job that charges one automatic top-up, queued in
// the transaction of the capture whose crossing created the top-up.
type AutoTopUpArgs struct {
	TopUpID uuid.UUID `json:"topup_id"`
}

// Kind implements river.JobArgs.
func (AutoTopUpArgs) Kind() string { return "wallet_auto_topup_charge" }

// InsertOpts implements river.JobArgsWithInsertOpts: one job per top-up.
func (AutoTopUpArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueAutoTopUp, MaxAttempts: AutoTopUpMaxAttempts, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

var errNoJobs = errors.New("the store has no job queue (postgres.New without Jobs)")

// queueCharge queues the charge of automatic top-up id in tx.
func (s *Store) queueCharge(ctx context.Context, tx pgx.Tx, id uuid.UUID) error {
	if s.jobs == nil {
		return errNoJobs
	}
	_, err := s.jobs.InsertTx(ctx, tx, AutoTopUpArgs{TopUpID: id}, nil)
	return err
}

// enqueueEmails hands emails to the outbox in tx: they go out exactly when
// tx commits (platform/outbox).
func (s *Store) enqueueEmails(ctx context.Context, tx pgx.Tx, emails []wallet.Email) error {
	if len(emails) > 0 && s.jobs == nil {
		return errNoJobs
	}
	for _, e := range emails {
		if err := outbox.EnqueueEmail(ctx, s.jobs, tx, outbox.Email{ToUserID: e.UserID.String(), Template: e.Template, Data: e.Data}); err != nil {
			return err
		}
	}
	return nil
}

// enqueueEvents hands webhook events to the outbox in tx: they go out
// exactly when tx commits (platform/outbox).
func (s *Store) enqueueEvents(ctx context.Context, tx pgx.Tx, events []wallet.Event) error {
	if len(events) > 0 && s.jobs == nil {
		return errNoJobs
	}
	for _, e := range events {
		if err := outbox.EnqueueEvent(ctx, s.jobs, tx, outbox.Event{UserID: e.UserID.String(), Type: e.Type, Data: e.Data, OccurredAt: e.OccurredAt}); err != nil {
			return err
		}
	}
	return nil
}
