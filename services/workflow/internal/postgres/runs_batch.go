package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/meterflow/meterflow/platform/groupcommit"
	"github.com/meterflow/meterflow/services/workflow/internal/postgres/db"
	"github.com/meterflow/meterflow/services/workflow/internal/workflow"
)

// createKey keeps two runs of one (user, idempotency key) out of one
// batch: the later waits for the next, so it finds the first committed
// and answers it, created=false, as one by one would. A run without a key
// conflicts with none.
func createKey(r workflow.Run) string {
	if r.IdempotencyKey == "" {
		return "run " + r.ID.String()
	}
	return r.UserID.String() + " " + r.IdempotencyKey
}

// createBatch answers each of rs: a batch of one by InsertRun, more by
// insertRunsSQL in one statement; when that fails as a whole (one bad
// run, the connection), one by one, so that one bad run cannot fail the
// others.
func (s *Store) createBatch(ctx context.Context, rs []workflow.Run) []groupcommit.Result[created] {
	return groupcommit.OneByOne(s.insertRuns, func(ctx context.Context, r workflow.Run) (created, error) {
		run, isNew, err := s.createOne(ctx, r)
		return created{run: run, new: isNew}, err
	}, s.batchOpts.observer("create"))(ctx, rs)
}

// insertRunsSQL is InsertRun (queries/runs.sql) for many runs: the same
// columns and conflict rule, its parameters as arrays zipped by unnest.
// Written by hand, as the wallet's reserveHoldsSQL: the statement's rows
// come back unordered and are matched to their calls by run id here, and
// every array is passed exactly as its column's type, which sqlc would
// only wrap in a parameter struct.
const insertRunsSQL = `INSERT INTO runs (id, user_id, workflow_slug, status, hold_state, async, fee_cents, timeout_ms, input,
    idempotency_key, request_hash, deadline_at, started_at, input_bytes, api_key_id,
    completion, callback_token_hash, callback_timeout_ms)
SELECT id, user_id, workflow_slug, status, hold_state, async, fee_cents, timeout_ms, input::jsonb,
    idempotency_key, request_hash, deadline_at, CASE WHEN status = 'running' THEN now() END,
    octet_length(input::jsonb::text), api_key_id, completion, callback_token_hash, callback_timeout_ms
FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bool[], $7::bigint[], $8::bigint[],
    $9::text[], $10::text[], $11::bytea[], $12::timestamptz[], $13::uuid[], $14::text[], $15::bytea[], $16::bigint[])
    WITH ORDINALITY AS i(id, user_id, workflow_slug, status, hold_state, async, fee_cents, timeout_ms, input,
    idempotency_key, request_hash, deadline_at, api_key_id, completion, callback_token_hash, callback_timeout_ms, ord)
ORDER BY ord
ON CONFLICT (user_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
RETURNING ` + runColumns

// insertRuns inserts rs in one statement and stores each answer in out; a
// run whose key was taken answers the run that holds it, created=false.
// An error means nothing was answered (and, unless it came after the
// commit, nothing written).
func (s *Store) insertRuns(ctx context.Context, rs []workflow.Run, out []groupcommit.Result[created]) error {
	n := len(rs)
	var (
		ids                  = make([]uuid.UUID, n)
		users, slugs, states = make([]string, n), make([]string, n), make([]string, n)
		holds, completions   = make([]string, n), make([]string, n)
		async                = make([]bool, n)
		fees, timeouts       = make([]int64, n), make([]int64, n)
		inputs, keys         = make([]pgtype.Text, n), make([]pgtype.Text, n)
		hashes, tokenHashes  = make([][]byte, n), make([][]byte, n)
		deadlines            = make([]time.Time, n)
		apiKeys              = make([]pgtype.UUID, n)
		callbackTimeouts     = make([]pgtype.Int8, n)
	)
	index := make(map[uuid.UUID]int, n)
	for i, r := range rs {
		ids[i], users[i], slugs[i], states[i], holds[i] = r.ID, r.UserID.String(), r.Workflow, string(r.Status), string(r.Hold)
		async[i], fees[i], timeouts[i] = r.Async, r.FeeCents, r.TimeoutMS
		inputs[i] = pgtype.Text{String: string(r.Input), Valid: r.Input != nil}
		keys[i], hashes[i], deadlines[i], apiKeys[i] = text(r.IdempotencyKey), r.RequestHash, r.DeadlineAt, optionalUUID(r.APIKeyID)
		completions[i], tokenHashes[i] = string(r.Completion), r.CallbackTokenHash
		callbackTimeouts[i] = pgtype.Int8{Int64: r.CallbackTimeoutMS, Valid: r.Completion == workflow.CompletionCallback}
		if _, dup := index[r.ID]; dup {
			return fmt.Errorf("run %s twice in one batch", r.ID)
		}
		index[r.ID] = i
	}
	rows, err := s.pool.Query(ctx, insertRunsSQL, ids, users, slugs, states, holds, async, fees, timeouts,
		inputs, keys, hashes, deadlines, apiKeys, completions, tokenHashes, callbackTimeouts)
	if err != nil {
		return err
	}
	defer rows.Close()
	answered := make([]bool, n)
	for rows.Next() {
		row, err := scanRun(rows)
		if err != nil {
			return err
		}
		i, ok := index[row.ID]
		if !ok || answered[i] {
			return fmt.Errorf("the batch insert returned run %s, not one of its own", row.ID)
		}
		run, err := toRun(row)
		if err != nil {
			return err
		}
		out[i], answered[i] = groupcommit.Result[created]{Out: created{run: run, new: true}}, true
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for i, r := range rs {
		if answered[i] {
			continue
		}
		if r.IdempotencyKey == "" {
			return fmt.Errorf("the batch insert skipped run %s, which has no idempotency key", r.ID)
		}
		// As in createOne: the statement waited for the key's first insert
		// to commit, so the existing run is visible now.
		out[i].Out.run, out[i].Err = s.runByKey(ctx, r)
	}
	return nil
}

// runByKey is the run stored under r's user and idempotency key.
func (s *Store) runByKey(ctx context.Context, r workflow.Run) (workflow.Run, error) {
	row, err := s.q.GetRunByKey(ctx, s.pool, db.GetRunByKeyParams{UserID: r.UserID.String(), IdempotencyKey: text(r.IdempotencyKey)})
	if err != nil {
		return workflow.Run{}, fmt.Errorf("get run by idempotency key: %w", err)
	}
	return toRun(row)
}
