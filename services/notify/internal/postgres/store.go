// Package postgres stores emails in Postgres and queues their sends in
// the same database with River: the row and its job are written in one
// transaction (Create), so an email is stored exactly when it will be
// sent. Queries are in queries/emails.sql (sqlc).
package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/meterflow/meterflow/platform/database"
	"github.com/meterflow/meterflow/platform/jobs"
	"github.com/meterflow/meterflow/services/notify/internal/notify"
	"github.com/meterflow/meterflow/services/notify/internal/postgres/db"
)

// Queue is the River queue emails are sent from.
const Queue = "email"

// MaxAttempts is how often a send is tried. With River's backoff
// (attempt⁴ seconds) the 15 attempts spread over about a day and a half,
// longer than any SMTP server's outage should last; then the email fails.
const MaxAttempts = 15

// SendJobArgs is the River job that sends one stored email. It carries
// the email's id and the trace of the request that queued it, never the
// template's data (which stays in the emails table and is erased once the
// email is final).
type SendJobArgs struct {
	EmailID uuid.UUID         `json:"email_id"`
	Trace   map[string]string `json:"trace,omitempty"`
}

// Kind implements river.JobArgs.
func (SendJobArgs) Kind() string { return "notify_send_email" }

// InsertOpts implements river.JobArgsWithInsertOpts.
func (SendJobArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: Queue, MaxAttempts: MaxAttempts}
}

// Store implements notify.Store.
type Store struct {
	pool  *pgxpool.Pool
	q     *db.Queries
	queue *river.Client[pgx.Tx]
}

// NewStore returns a store on pool that inserts send jobs with queue (an
// insert-only River client is enough).
func NewStore(pool *pgxpool.Pool, queue *river.Client[pgx.Tx]) *Store {
	return &Store{pool: pool, q: db.New(), queue: queue}
}

var _ notify.Store = (*Store)(nil)

// Create implements notify.Store.
func (s *Store) Create(ctx context.Context, e notify.Email) (notify.Email, bool, error) {
	params, err := emailParams(e)
	if err != nil {
		return notify.Email{}, false, err
	}
	var row db.Email
	created := true
	err = database.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		row, created, err = s.createTx(ctx, tx, e, params)
		return err
	})
	if err != nil {
		return notify.Email{}, false, fmt.Errorf("store email: %w", err)
	}
	out, err := toEmail(row)
	return out, created, err
}

// createTx stores an email and its send job inside tx (Create, and the
// transaction that disables a webhook endpoint).
func (s *Store) createTx(ctx context.Context, tx pgx.Tx, e notify.Email, params db.InsertEmailParams) (db.Email, bool, error) {
	row, err := s.q.InsertEmail(ctx, tx, params)
	if errors.Is(err, pgx.ErrNoRows) {
		// ON CONFLICT DO NOTHING waited for the first insert of this
		// key to commit; this statement's snapshot sees it.
		row, err = s.q.GetEmailByKey(ctx, tx, db.GetEmailByKeyParams{Producer: e.Producer, IdempotencyKey: e.IdempotencyKey})
		return row, false, err
	}
	if err != nil {
		return row, false, err
	}
	_, err = s.queue.InsertTx(ctx, tx, SendJobArgs{EmailID: row.ID, Trace: e.Trace}, nil)
	return row, true, err
}

// CreateTx stores e and queues its send inside tx.
func (s *Store) CreateTx(ctx context.Context, tx pgx.Tx, e notify.Email) error {
	params, err := emailParams(e)
	if err != nil {
		return err
	}
	_, _, err = s.createTx(ctx, tx, e, params)
	return err
}

func emailParams(e notify.Email) (db.InsertEmailParams, error) {
	data, err := json.Marshal(e.Data)
	if err != nil {
		return db.InsertEmailParams{}, fmt.Errorf("encode data: %w", err)
	}
	params := db.InsertEmailParams{
		ID: e.ID, Producer: e.Producer, IdempotencyKey: e.IdempotencyKey, RequestHash: e.RequestHash,
		Template: e.Template, ToAddress: pgtype.Text{String: e.ToAddress, Valid: e.ToAddress != ""},
		Data: data, CreatedAt: e.CreatedAt,
	}
	if e.ToUserID != uuid.Nil {
		params.ToUserID = pgtype.UUID{Bytes: e.ToUserID, Valid: true}
	}
	return params, nil
}

// Email implements notify.Store.
func (s *Store) Email(ctx context.Context, id uuid.UUID) (notify.Email, error) {
	row, err := s.q.GetEmail(ctx, s.pool, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return notify.Email{}, notify.ErrEmailNotFound
	}
	if err != nil {
		return notify.Email{}, fmt.Errorf("get email: %w", err)
	}
	return toEmail(row)
}

// RecordAttempt implements notify.Store.
func (s *Store) RecordAttempt(ctx context.Context, id uuid.UUID, n int) error {
	return affected(s.q.RecordAttempt(ctx, s.pool, db.RecordAttemptParams{ID: id, Attempt: int32(min(n, 1<<30))}))
}

// RecordError implements notify.Store.
func (s *Store) RecordError(ctx context.Context, id uuid.UUID, lastError string) error {
	return affected(s.q.RecordError(ctx, s.pool, db.RecordErrorParams{ID: id, LastError: pgtype.Text{String: lastError, Valid: true}}))
}

// Finish implements notify.Store.
func (s *Store) Finish(ctx context.Context, id uuid.UUID, st notify.Status, lastError string) error {
	return affected(s.q.FinishEmail(ctx, s.pool, db.FinishEmailParams{
		ID: id, Status: string(st), LastError: pgtype.Text{String: lastError, Valid: lastError != ""},
	}))
}

// Prune implements notify.Store.
func (s *Store) Prune(ctx context.Context, cutoff time.Time, limit int) (int64, error) {
	return s.q.PruneEmails(ctx, s.pool, db.PruneEmailsParams{Cutoff: &cutoff, MaxRows: int32(limit)})
}

// abandonedQuery reads River's job table, which sqlc does not know: the
// queued emails that no send job will work any more (discarded, cancelled,
// completed or deleted), oldest first. A job that is still running, even
// in a process that died, counts as live until River rescues it.
const abandonedQuery = `SELECT e.id, e.template, e.attempts FROM emails AS e
WHERE e.status = 'queued' AND NOT EXISTS (
    SELECT 1 FROM river_job AS j
    WHERE j.kind = $1 AND j.args->>'email_id' = e.id::text
      AND j.state IN ('available', 'pending', 'retryable', 'running', 'scheduled'))
ORDER BY e.created_at
LIMIT $2`

// Abandoned implements notify.Store.
func (s *Store) Abandoned(ctx context.Context, limit int) ([]notify.Email, error) {
	rows, err := s.pool.Query(ctx, abandonedQuery, SendJobArgs{}.Kind(), limit)
	if err != nil {
		return nil, fmt.Errorf("abandoned emails: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (notify.Email, error) {
		e := notify.Email{Status: notify.StatusQueued}
		var attempts int32
		err := r.Scan(&e.ID, &e.Template, &attempts)
		e.Attempts = int(attempts)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("abandoned emails: %w", err)
	}
	return out, nil
}

// QueueStats is the backlog, for the queue gauges.
type QueueStats struct {
	// Queued counts the emails not final yet; OldestQueued is how long the
	// oldest of them has waited since it was stored (retries included).
	Queued       int64
	OldestQueued time.Duration
}

// QueueStats returns the backlog.
func (s *Store) QueueStats(ctx context.Context) (QueueStats, error) {
	row, err := s.q.QueuedStats(ctx, s.pool)
	if err != nil {
		return QueueStats{}, err
	}
	return QueueStats{Queued: row.Queued, OldestQueued: seconds(row.OldestAgeSeconds)}, nil
}

// OldestDue returns how long the oldest send due (its first attempt, or a
// retry whose time has come) has waited for a worker: River's view of the
// send queue (platform/jobs).
func (s *Store) OldestDue(ctx context.Context) (time.Duration, error) {
	return jobs.OldestDue(ctx, s.pool, Queue)
}

func seconds(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }

// affected turns a guarded update's row count into notify.ErrEmailNotFound
// when no queued email matched.
func affected(n int64, err error) error {
	if err != nil {
		return fmt.Errorf("update email: %w", err)
	}
	if n == 0 {
		return notify.ErrEmailNotFound
	}
	return nil
}

func toEmail(r db.Email) (notify.Email, error) {
	e := notify.Email{
		ID: r.ID, Producer: r.Producer, IdempotencyKey: r.IdempotencyKey, RequestHash: r.RequestHash,
		Template: r.Template, ToAddress: r.ToAddress.String, Status: notify.Status(r.Status),
		Attempts: int(r.Attempts), LastError: r.LastError.String, CreatedAt: r.CreatedAt, FinishedAt: r.FinishedAt,
	}
	if r.ToUserID.Valid {
		e.ToUserID = r.ToUserID.Bytes
	}
	if err := json.Unmarshal(r.Data, &e.Data); err != nil {
		return notify.Email{}, fmt.Errorf("decode email %s data: %w", r.ID, err)
	}
	return e, nil
}
