package postgres

import (
	"context"
	"log/slog"

	"github.com/jackc/pgx/v5"

	"github.com/meterflow/meterflow/platform/groupcommit"
	"github.com/meterflow/meterflow/services/workflow/internal/postgres/db"
	"github.com/meterflow/meterflow/services/workflow/internal/workflow"
)

// WriteBatches configures the batching of run writes (ADR 0019).
type WriteBatches struct {
	// Max is the most runs one statement inserts, or one transaction
	// changes; 1 writes one by one, as before batching.
	Max int
	// Log receives a warning when a batch fails and its writes are made
	// one by one.
	Log *slog.Logger
	// Observe, when set, is told each batch's kind ("create", "apply"),
	// size (1: a write that found no batch of its kind running) and
	// whether it fell back to one by one.
	Observe func(kind string, size int, fellBack bool)
}

// BatchWrites makes CreateRun and Apply coalesce concurrent calls
// (platform/groupcommit): a call that finds no batch of its kind running
// is written at once, alone, by the statements of one-by-one; calls that
// arrive meanwhile are written together, up to o.Max, by one INSERT (run
// inserts) or one UPDATE and its River jobs in one transaction (state
// changes). Call it before the store is used.
func (s *Store) BatchWrites(o WriteBatches) {
	s.creates, s.applies = nil, nil
	if o.Max <= 1 {
		return
	}
	s.batchOpts = o
	s.creates = groupcommit.New(o.Max, createKey, s.createBatch)
	s.applies = groupcommit.New(o.Max, func(in applyIn) string { return in.id.String() }, s.applyBatch)
}

// observer is groupcommit.OneByOne's observer for the batches of kind:
// Observe, and the warning of a failed batch.
func (o WriteBatches) observer(kind string) func(ctx context.Context, size int, err error) {
	return func(ctx context.Context, size int, err error) {
		if o.Observe != nil {
			o.Observe(kind, size, err != nil)
		}
		if err != nil && o.Log != nil {
			o.Log.WarnContext(ctx, "run write batch failed: writing its runs one by one", "kind", kind, "runs", size, "err", err)
		}
	}
}

// runColumns are the columns of runs in db.Run's order (scanRun).
const runColumns = `id, user_id, workflow_slug, status, hold_state, async, fee_cents, charged_cents, timeout_ms,
    input, output, http_status, error, idempotency_key, request_hash, created_at, started_at, finished_at,
    deadline_at, updated_at, input_bytes, output_bytes, api_key_id, completion, callback_token_hash,
    callback_timeout_ms, unsettled`

// scanRun scans a row of extra columns followed by runColumns.
func scanRun(rows pgx.Rows, extra ...any) (db.Run, error) {
	var r db.Run
	err := rows.Scan(append(extra,
		&r.ID, &r.UserID, &r.WorkflowSlug, &r.Status, &r.HoldState, &r.Async, &r.FeeCents, &r.ChargedCents,
		&r.TimeoutMs, &r.Input, &r.Output, &r.HttpStatus, &r.Error, &r.IdempotencyKey, &r.RequestHash,
		&r.CreatedAt, &r.StartedAt, &r.FinishedAt, &r.DeadlineAt, &r.UpdatedAt, &r.InputBytes, &r.OutputBytes,
		&r.ApiKeyID, &r.Completion, &r.CallbackTokenHash, &r.CallbackTimeoutMs, &r.Unsettled)...)
	return r, err
}

// created is CreateRun's answer.
type created struct {
	run workflow.Run
	new bool
}
