package postgres

import (
	"context"
	"errors"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// Jobs inserts River jobs inside a transaction: the wallet's River client
// (internal/queue), on the wallet's own database.
type Jobs interface {
	InsertTx(ctx context.Context, tx pgx.Tx, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
}

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
