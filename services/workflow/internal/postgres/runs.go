package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/meterflow/meterflow/services/workflow/internal/postgres/db"
	"github.com/meterflow/meterflow/services/workflow/internal/workflow"
)

func toRun(r db.Run) (workflow.Run, error) {
	user, err := parseUser("run user", r.UserID)
	if err != nil {
		return workflow.Run{}, err
	}
	out := workflow.Run{
		ID: r.ID, UserID: user, Workflow: r.WorkflowSlug, Status: workflow.Status(r.Status),
		Hold: workflow.HoldState(r.HoldState), Async: r.Async, FeeCents: r.FeeCents, ChargedCents: r.ChargedCents,
		TimeoutMS: r.TimeoutMs, Input: r.Input, Output: r.Output, HTTPStatus: int(r.HttpStatus), Error: r.Error,
		IdempotencyKey: r.IdempotencyKey.String, RequestHash: r.RequestHash, CreatedAt: r.CreatedAt,
		StartedAt: r.StartedAt, FinishedAt: r.FinishedAt, DeadlineAt: r.DeadlineAt,
		Completion: workflow.Completion(r.Completion), CallbackTokenHash: r.CallbackTokenHash,
		CallbackTimeoutMS: r.CallbackTimeoutMs.Int64,
	}
	if r.ApiKeyID.Valid {
		out.APIKeyID = uuid.UUID(r.ApiKeyID.Bytes)
	}
	return out, nil
}

func toRuns(rows []db.Run) ([]workflow.Run, error) {
	out := make([]workflow.Run, len(rows))
	for i, r := range rows {
		var err error
		if out[i], err = toRun(r); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// CreateRun implements workflow.Store. With BatchWrites, concurrent calls
// share one INSERT (createBatch).
func (s *Store) CreateRun(ctx context.Context, r workflow.Run) (workflow.Run, bool, error) {
	if s.creates == nil {
		return s.createOne(ctx, r)
	}
	c, err := s.creates.Do(ctx, r)
	return c.run, c.new, err
}

// createOne inserts r alone (InsertRun); a repeated idempotency key
// answers the run that holds it, created=false.
func (s *Store) createOne(ctx context.Context, r workflow.Run) (workflow.Run, bool, error) {
	row, err := s.q.InsertRun(ctx, s.pool, db.InsertRunParams{
		ID: r.ID, UserID: r.UserID.String(), WorkflowSlug: r.Workflow, Status: string(r.Status), HoldState: string(r.Hold),
		Async: r.Async, FeeCents: r.FeeCents, TimeoutMs: r.TimeoutMS, Input: r.Input, IdempotencyKey: text(r.IdempotencyKey),
		RequestHash: r.RequestHash, DeadlineAt: r.DeadlineAt, ApiKeyID: optionalUUID(r.APIKeyID),
		Completion: string(r.Completion), CallbackTokenHash: r.CallbackTokenHash,
		CallbackTimeoutMs: pgtype.Int8{Int64: r.CallbackTimeoutMS, Valid: r.Completion == workflow.CompletionCallback},
	})
	if err == nil {
		run, err := toRun(row)
		return run, err == nil, err
	}
	if !errors.Is(err, pgx.ErrNoRows) || r.IdempotencyKey == "" {
		return workflow.Run{}, false, fmt.Errorf("insert run: %w", err)
	}
	// ON CONFLICT DO NOTHING waited for the first insert of this key to
	// commit, so the existing run is visible now.
	run, err := s.runByKey(ctx, r)
	return run, false, err
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
	return toRun(r)
}

// ListRuns implements workflow.Store.
func (s *Store) ListRuns(ctx context.Context, f workflow.RunFilter) ([]workflow.Run, error) {
	if f.AwaitingCallback {
		return s.listAwaitingCallback(ctx, f)
	}
	created, id := cursorArgs(f.After)
	rows, err := s.q.ListRuns(ctx, s.pool, db.ListRunsParams{
		UserID: userText(f.UserID), Workflow: text(f.Workflow), Status: text(string(f.Status)),
		CursorCreated: created, CursorID: id, MaxRows: int32(f.Limit), MaxValueBytes: workflow.MaxListValueBytes,
	})
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	runs := make([]db.Run, len(rows))
	for i, r := range rows {
		runs[i] = db.Run{
			ID: r.ID, UserID: r.UserID, WorkflowSlug: r.WorkflowSlug, Status: r.Status, HoldState: r.HoldState,
			Async: r.Async, FeeCents: r.FeeCents, ChargedCents: r.ChargedCents, TimeoutMs: r.TimeoutMs,
			Input: r.Input, Output: r.Output, HttpStatus: r.HttpStatus, Error: r.Error, IdempotencyKey: r.IdempotencyKey,
			RequestHash: r.RequestHash, CreatedAt: r.CreatedAt, StartedAt: r.StartedAt, FinishedAt: r.FinishedAt,
			DeadlineAt: r.DeadlineAt, ApiKeyID: r.ApiKeyID, Completion: r.Completion,
		}
	}
	return toRuns(runs)
}

// listAwaitingCallback lists the runs waiting for their verdict: callback
// mode, in a state that accepts one (the transition table's).
func (s *Store) listAwaitingCallback(ctx context.Context, f workflow.RunFilter) ([]workflow.Run, error) {
	var states []string
	for _, st := range workflow.Step(workflow.EventVerdictSucceeded).From {
		states = append(states, st.String())
	}
	created, id := cursorArgs(f.After)
	rows, err := s.q.ListAwaitingCallback(ctx, s.pool, db.ListAwaitingCallbackParams{
		States: states, UserID: userText(f.UserID), Workflow: text(f.Workflow),
		CursorCreated: created, CursorID: id, MaxRows: int32(f.Limit), MaxValueBytes: workflow.MaxListValueBytes,
	})
	if err != nil {
		return nil, fmt.Errorf("list runs awaiting a verdict: %w", err)
	}
	runs := make([]db.Run, len(rows))
	for i, r := range rows {
		runs[i] = db.Run{
			ID: r.ID, UserID: r.UserID, WorkflowSlug: r.WorkflowSlug, Status: r.Status, HoldState: r.HoldState,
			Async: r.Async, FeeCents: r.FeeCents, ChargedCents: r.ChargedCents, TimeoutMs: r.TimeoutMs,
			Input: r.Input, Output: r.Output, HttpStatus: r.HttpStatus, Error: r.Error, IdempotencyKey: r.IdempotencyKey,
			RequestHash: r.RequestHash, CreatedAt: r.CreatedAt, StartedAt: r.StartedAt, FinishedAt: r.FinishedAt,
			DeadlineAt: r.DeadlineAt, ApiKeyID: r.ApiKeyID, Completion: r.Completion,
		}
	}
	return toRuns(runs)
}

// ListUnsettled implements workflow.Store.
func (s *Store) ListUnsettled(ctx context.Context, deadlineBefore time.Time, limit int) ([]workflow.Run, error) {
	rows, err := s.q.ListUnsettled(ctx, s.pool, db.ListUnsettledParams{DeadlineAt: deadlineBefore, Limit: int32(limit)})
	if err != nil {
		return nil, fmt.Errorf("list unsettled runs: %w", err)
	}
	return toRuns(rows)
}

// optionalUUID is id as a nullable column: NULL for uuid.Nil.
func optionalUUID(id uuid.UUID) pgtype.UUID {
	return pgtype.UUID{Bytes: id, Valid: id != uuid.Nil}
}

// CountUnsettled counts the runs whose deadline passed before
// deadlineBefore with their hold not final (the metrics gauge).
func (s *Store) CountUnsettled(ctx context.Context, deadlineBefore time.Time) (int64, error) {
	return s.q.CountUnsettled(ctx, s.pool, deadlineBefore)
}
