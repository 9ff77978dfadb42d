// Package postgres stores workflows, runs and audit events in Postgres and
// queues async runs in the same database with River. The files mirror
// queries/*.sql: workflows.go (the catalog and its audit log), runs.go;
// batch.go, runs_batch.go and transitions_batch.go write concurrent run
// inserts and state changes in batches (ADR 0019).
package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/meterflow/meterflow/platform/database"
	"github.com/meterflow/meterflow/platform/groupcommit"
	"github.com/meterflow/meterflow/platform/paging"
	"github.com/meterflow/meterflow/services/workflow/internal/postgres/db"
	"github.com/meterflow/meterflow/services/workflow/internal/workflow"
)

// RunJobArgs is the River job of an async run.
type RunJobArgs struct {
	RunID uuid.UUID `json:"run_id"`
	// TimeoutMS is the run's call timeout, for the job's own timeout.
	TimeoutMS int64 `json:"timeout_ms"`
}

// Kind implements river.JobArgs.
func (RunJobArgs) Kind() string { return "workflow_run" }

// InsertOpts implements river.JobArgsWithInsertOpts: a run's job may be
// retried only while the request was certainly not sent, which the worker
// decides from the run's state; the attempts bound wallet outages.
func (RunJobArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: MaxJobAttempts, Queue: river.QueueDefault}
}

// MaxJobAttempts bounds the tries of one async run's job.
const MaxJobAttempts = 5

// Store implements workflow.Store.
type Store struct {
	pool  *pgxpool.Pool
	q     *db.Queries
	queue *river.Client[pgx.Tx]

	// creates and applies batch CreateRun and Apply (BatchWrites); nil:
	// one by one.
	creates   *groupcommit.Batcher[workflow.Run, created]
	applies   *groupcommit.Batcher[applyIn, workflow.Run]
	batchOpts WriteBatches
	// onEvents is called after a commit that inserted webhook events
	// (OnEvents); nil: nobody is told.
	onEvents func()
}

// NewStore returns a store on pool that inserts jobs with queue (an
// insert-only River client is enough).
func NewStore(pool *pgxpool.Pool, queue *river.Client[pgx.Tx]) *Store {
	return &Store{pool: pool, q: db.New(), queue: queue}
}

var _ workflow.Store = (*Store)(nil)

const uniqueViolation = "23505"

func isUnique(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == uniqueViolation
}

func text(s string) pgtype.Text { return pgtype.Text{String: s, Valid: s != ""} }

// userText is a user id as stored (text); uuid.Nil is NULL, "any user".
func userText(id uuid.UUID) pgtype.Text {
	if id == uuid.Nil {
		return pgtype.Text{}
	}
	return pgtype.Text{String: id.String(), Valid: true}
}

// parseUser reads a user id stored as text.
func parseUser(what, s string) (uuid.UUID, error) {
	id, err := uuid.Parse(s)
	if err != nil {
		return uuid.Nil, fmt.Errorf("stored %s %q is not a user id: %w", what, s, err)
	}
	return id, nil
}

func (s *Store) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	return database.InTx(ctx, s.pool, fn)
}

// cursorArgs are the keyset parameters of a list; the zero cursor is NULL,
// the first page.
func cursorArgs(c paging.Cursor) (*time.Time, pgtype.UUID) {
	if c.IsZero() {
		return nil, pgtype.UUID{}
	}
	t := c.CreatedAt
	return &t, pgtype.UUID{Bytes: c.ID, Valid: true}
}
