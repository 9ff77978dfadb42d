// Package postgres stores workflows, runs and audit events in Postgres and
// queues async runs in the same database with River.
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
}

// NewStore returns a store on pool that inserts jobs with queue (an
// insert-only River client is enough).
func NewStore(pool *pgxpool.Pool, queue *river.Client[pgx.Tx]) *Store {
	return &Store{pool: pool, q: db.New(), queue: queue}
}

const uniqueViolation = "23505"

func isUnique(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == uniqueViolation
}

func text(s string) pgtype.Text { return pgtype.Text{String: s, Valid: s != ""} }

func toWorkflow(w db.Workflow) workflow.Workflow {
	return workflow.Workflow{
		Slug: w.Slug, Name: w.Name, Description: w.Description, WebhookURL: w.WebhookUrl,
		AuthHeaderName: w.AuthHeaderName, AuthHeaderValueEnc: w.AuthHeaderValueEnc,
		FeeCents: w.FeeCents, TimeoutMS: w.TimeoutMs, Active: w.Active, CreatedAt: w.CreatedAt, UpdatedAt: w.UpdatedAt,
	}
}

func toRun(r db.Run) workflow.Run {
	return workflow.Run{
		ID: r.ID, UserID: r.UserID, Workflow: r.WorkflowSlug, Status: workflow.Status(r.Status),
		Hold: workflow.HoldState(r.HoldState), Async: r.Async, FeeCents: r.FeeCents, ChargedCents: r.ChargedCents,
		TimeoutMS: r.TimeoutMs, Input: r.Input, Output: r.Output, HTTPStatus: int(r.HttpStatus), Error: r.Error,
		IdempotencyKey: r.IdempotencyKey.String, RequestHash: r.RequestHash, CreatedAt: r.CreatedAt,
		StartedAt: r.StartedAt, FinishedAt: r.FinishedAt, DeadlineAt: r.DeadlineAt,
	}
}

func toAudit(e db.AuditEvent) workflow.AuditEvent {
	return workflow.AuditEvent{ID: e.ID, ActorID: e.ActorID, Action: e.Action, TargetType: e.TargetType,
		TargetID: e.TargetID, Reason: e.Reason, Before: e.Before, After: e.After, CreatedAt: e.CreatedAt}
}

func (s *Store) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	return database.InTx(ctx, s.pool, fn)
}

func (s *Store) insertAudit(ctx context.Context, tx pgx.Tx, e workflow.AuditEvent) error {
	return s.q.InsertAuditEvent(ctx, tx, db.InsertAuditEventParams{
		ID: e.ID, ActorID: e.ActorID, Action: e.Action, TargetType: e.TargetType, TargetID: e.TargetID,
		Reason: e.Reason, Before: e.Before, After: e.After,
	})
}

// CreateWorkflow implements workflow.Store.
func (s *Store) CreateWorkflow(ctx context.Context, w workflow.Workflow, audit workflow.AuditEvent) (workflow.Workflow, error) {
	var out db.Workflow
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		out, err = s.q.InsertWorkflow(ctx, tx, db.InsertWorkflowParams{
			Slug: w.Slug, Name: w.Name, Description: w.Description, WebhookUrl: w.WebhookURL,
			AuthHeaderName: w.AuthHeaderName, AuthHeaderValueEnc: w.AuthHeaderValueEnc,
			FeeCents: w.FeeCents, TimeoutMs: w.TimeoutMS, Active: w.Active,
		})
		if isUnique(err) {
			return workflow.ErrSlugTaken
		}
		if err != nil {
			return fmt.Errorf("insert workflow: %w", err)
		}
		return s.insertAudit(ctx, tx, audit)
	})
	if err != nil {
		return workflow.Workflow{}, err
	}
	return toWorkflow(out), nil
}

// UpdateWorkflow implements workflow.Store.
func (s *Store) UpdateWorkflow(ctx context.Context, slug string, change func(workflow.Workflow) (workflow.Workflow, workflow.AuditEvent, error)) (workflow.Workflow, error) {
	var out db.Workflow
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		cur, err := s.q.GetWorkflowForUpdate(ctx, tx, slug)
		if errors.Is(err, pgx.ErrNoRows) {
			return workflow.ErrWorkflowNotFound
		}
		if err != nil {
			return fmt.Errorf("lock workflow: %w", err)
		}
		w, ev, err := change(toWorkflow(cur))
		if err != nil {
			return err
		}
		out, err = s.q.UpdateWorkflow(ctx, tx, db.UpdateWorkflowParams{
			Slug: slug, Name: w.Name, Description: w.Description, WebhookUrl: w.WebhookURL,
			AuthHeaderName: w.AuthHeaderName, AuthHeaderValueEnc: w.AuthHeaderValueEnc,
			FeeCents: w.FeeCents, TimeoutMs: w.TimeoutMS, Active: w.Active,
		})
		if err != nil {
			return fmt.Errorf("update workflow: %w", err)
		}
		return s.insertAudit(ctx, tx, ev)
	})
	if err != nil {
		return workflow.Workflow{}, err
	}
	return toWorkflow(out), nil
}

// GetWorkflow implements workflow.Store.
func (s *Store) GetWorkflow(ctx context.Context, slug string) (workflow.Workflow, error) {
	w, err := s.q.GetWorkflow(ctx, s.pool, slug)
	if errors.Is(err, pgx.ErrNoRows) {
		return workflow.Workflow{}, workflow.ErrWorkflowNotFound
	}
	if err != nil {
		return workflow.Workflow{}, fmt.Errorf("get workflow: %w", err)
	}
	return toWorkflow(w), nil
}

// ListWorkflows implements workflow.Store.
func (s *Store) ListWorkflows(ctx context.Context, activeOnly bool) ([]workflow.Workflow, error) {
	rows, err := s.q.ListWorkflows(ctx, s.pool, activeOnly)
	if err != nil {
		return nil, fmt.Errorf("list workflows: %w", err)
	}
	out := make([]workflow.Workflow, len(rows))
	for i, r := range rows {
		out[i] = toWorkflow(r)
	}
	return out, nil
}

func cursorArgs(c *workflow.Cursor) (*time.Time, pgtype.UUID) {
	if c == nil {
		return nil, pgtype.UUID{}
	}
	t := c.CreatedAt
	return &t, pgtype.UUID{Bytes: c.ID, Valid: true}
}

// ListAuditEvents implements workflow.Store.
func (s *Store) ListAuditEvents(ctx context.Context, f workflow.AuditFilter) ([]workflow.AuditEvent, error) {
	created, id := cursorArgs(f.After)
	rows, err := s.q.ListAuditEvents(ctx, s.pool, db.ListAuditEventsParams{
		TargetID: text(f.TargetID), CursorCreated: created, CursorID: id, MaxRows: int32(f.Limit),
	})
	if err != nil {
		return nil, fmt.Errorf("list audit events: %w", err)
	}
	out := make([]workflow.AuditEvent, len(rows))
	for i, r := range rows {
		out[i] = toAudit(r)
	}
	return out, nil
}

// CreateRun implements workflow.Store.
func (s *Store) CreateRun(ctx context.Context, r workflow.Run) (workflow.Run, bool, error) {
	row, err := s.q.InsertRun(ctx, s.pool, db.InsertRunParams{
		ID: r.ID, UserID: r.UserID, WorkflowSlug: r.Workflow, Status: string(r.Status), Async: r.Async, FeeCents: r.FeeCents,
		TimeoutMs: r.TimeoutMS, Input: r.Input, IdempotencyKey: text(r.IdempotencyKey),
		RequestHash: r.RequestHash, DeadlineAt: r.DeadlineAt,
	})
	if err == nil {
		return toRun(row), true, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) || r.IdempotencyKey == "" {
		return workflow.Run{}, false, fmt.Errorf("insert run: %w", err)
	}
	// ON CONFLICT DO NOTHING waited for the first insert of this key to
	// commit, so the existing run is visible now.
	row, err = s.q.GetRunByKey(ctx, s.pool, db.GetRunByKeyParams{UserID: r.UserID, IdempotencyKey: text(r.IdempotencyKey)})
	if err != nil {
		return workflow.Run{}, false, fmt.Errorf("get run by idempotency key: %w", err)
	}
	return toRun(row), false, nil
}

// GetRun implements workflow.Store.
func (s *Store) GetRun(ctx context.Context, id uuid.UUID) (workflow.Run, error) {
	r, err := s.q.GetRun(ctx, s.pool, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return workflow.Run{}, workflow.ErrRunNotFound
	}
	if err != nil {
		return workflow.Run{}, fmt.Errorf("get run: %w", err)
	}
	return toRun(r), nil
}

// ListRuns implements workflow.Store.
func (s *Store) ListRuns(ctx context.Context, f workflow.RunFilter) ([]workflow.Run, error) {
	created, id := cursorArgs(f.After)
	rows, err := s.q.ListRuns(ctx, s.pool, db.ListRunsParams{
		UserID: text(f.UserID), Workflow: text(f.Workflow), Status: text(string(f.Status)),
		CursorCreated: created, CursorID: id, MaxRows: int32(f.Limit), MaxValueBytes: workflow.MaxListValueBytes,
	})
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	out := make([]workflow.Run, len(rows))
	for i, r := range rows {
		out[i] = toRun(db.Run{
			ID: r.ID, UserID: r.UserID, WorkflowSlug: r.WorkflowSlug, Status: r.Status, HoldState: r.HoldState,
			Async: r.Async, FeeCents: r.FeeCents, ChargedCents: r.ChargedCents, TimeoutMs: r.TimeoutMs,
			Input: r.Input, Output: r.Output, HttpStatus: r.HttpStatus, Error: r.Error, IdempotencyKey: r.IdempotencyKey,
			RequestHash: r.RequestHash, CreatedAt: r.CreatedAt, StartedAt: r.StartedAt, FinishedAt: r.FinishedAt,
			DeadlineAt: r.DeadlineAt,
		})
	}
	return out, nil
}

func toRuns(rows []db.Run) []workflow.Run {
	out := make([]workflow.Run, len(rows))
	for i, r := range rows {
		out[i] = toRun(r)
	}
	return out
}

// ListUnsettled implements workflow.Store.
func (s *Store) ListUnsettled(ctx context.Context, deadlineBefore time.Time, limit int) ([]workflow.Run, error) {
	rows, err := s.q.ListUnsettled(ctx, s.pool, db.ListUnsettledParams{DeadlineAt: deadlineBefore, Limit: int32(limit)})
	if err != nil {
		return nil, fmt.Errorf("list unsettled runs: %w", err)
	}
	return toRuns(rows), nil
}

// RunStats implements workflow.Store. Both aggregates run in one read-only
// repeatable-read transaction, so the totals of the failing workflows agree
// with the counts by status.
func (s *Store) RunStats(ctx context.Context, since time.Time, topFailing int) (workflow.RunStats, error) {
	var out workflow.RunStats
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return out, fmt.Errorf("begin: %w", err)
	}
	// Read-only: nothing to commit, the rollback only ends the snapshot.
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	counts, err := s.q.CountRunsByStatus(ctx, tx, since)
	if err != nil {
		return out, fmt.Errorf("count runs by status: %w", err)
	}
	failing, err := s.q.TopFailingWorkflows(ctx, tx, db.TopFailingWorkflowsParams{Since: since, MaxRows: int32(topFailing)})
	if err != nil {
		return out, fmt.Errorf("top failing workflows: %w", err)
	}
	out.ByStatus = make([]workflow.StatusCount, len(counts))
	for i, c := range counts {
		out.ByStatus[i] = workflow.StatusCount{Status: workflow.Status(c.Status), Count: c.Runs}
	}
	out.TopFailing = make([]workflow.WorkflowFailures, len(failing))
	for i, f := range failing {
		out.TopFailing[i] = workflow.WorkflowFailures{Workflow: f.WorkflowSlug, Failed: f.Failed, Total: f.Total}
	}
	return out, nil
}

// transition maps a conditional update's result: no row means the run was
// not in the expected state.
func transition(r db.Run, err error, what string) (workflow.Run, error) {
	if errors.Is(err, pgx.ErrNoRows) {
		return workflow.Run{}, workflow.ErrStateChanged
	}
	if err != nil {
		return workflow.Run{}, fmt.Errorf("%s: %w", what, err)
	}
	return toRun(r), nil
}

// MarkReserveRefused implements workflow.Store.
func (s *Store) MarkReserveRefused(ctx context.Context, id uuid.UUID, msg string, input []byte) (workflow.Run, error) {
	r, err := s.q.MarkReserveRefused(ctx, s.pool, db.MarkReserveRefusedParams{ID: id, Error: msg, Input: input})
	return transition(r, err, "mark reserve refused")
}

// MarkHeldAndEnqueue implements workflow.Store: the run becomes held and its
// job is inserted in one transaction, so a committed held async run always
// has a job and a job always finds its run.
func (s *Store) MarkHeldAndEnqueue(ctx context.Context, id uuid.UUID) (workflow.Run, error) {
	var out workflow.Run
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		r, err := s.q.MarkHeld(ctx, tx, id)
		if out, err = transition(r, err, "mark held"); err != nil {
			return err
		}
		if _, err := s.queue.InsertTx(ctx, tx, RunJobArgs{RunID: id, TimeoutMS: out.TimeoutMS}, nil); err != nil {
			return fmt.Errorf("insert run job: %w", err)
		}
		return nil
	})
	return out, err
}

// MarkRunning implements workflow.Store.
func (s *Store) MarkRunning(ctx context.Context, id uuid.UUID) (workflow.Run, error) {
	r, err := s.q.MarkRunning(ctx, s.pool, id)
	return transition(r, err, "mark running")
}

// RecordSuccess implements workflow.Store.
func (s *Store) RecordSuccess(ctx context.Context, id uuid.UUID, httpStatus int, output []byte) (workflow.Run, error) {
	r, err := s.q.RecordSuccess(ctx, s.pool, db.RecordSuccessParams{ID: id, HttpStatus: int32(httpStatus), Output: output})
	return transition(r, err, "record success")
}

// RecordFailure implements workflow.Store.
func (s *Store) RecordFailure(ctx context.Context, id uuid.UUID, httpStatus int, output []byte, msg string) (workflow.Run, error) {
	r, err := s.q.RecordFailure(ctx, s.pool, db.RecordFailureParams{ID: id, HttpStatus: int32(httpStatus), Output: output, Error: msg})
	return transition(r, err, "record failure")
}

// MarkCaptured implements workflow.Store.
func (s *Store) MarkCaptured(ctx context.Context, id uuid.UUID) (workflow.Run, error) {
	r, err := s.q.MarkCaptured(ctx, s.pool, id)
	return transition(r, err, "mark captured")
}

// MarkCaptureLost implements workflow.Store.
func (s *Store) MarkCaptureLost(ctx context.Context, id uuid.UUID, msg string) (workflow.Run, error) {
	r, err := s.q.MarkCaptureLost(ctx, s.pool, db.MarkCaptureLostParams{ID: id, Error: msg})
	return transition(r, err, "mark capture lost")
}

// MarkReleased implements workflow.Store.
func (s *Store) MarkReleased(ctx context.Context, id uuid.UUID) (workflow.Run, error) {
	r, err := s.q.MarkReleased(ctx, s.pool, id)
	return transition(r, err, "mark released")
}

var _ workflow.Store = (*Store)(nil)
