package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/riverqueue/river"

	"github.com/meterflow/meterflow/platform/groupcommit"
	"github.com/meterflow/meterflow/platform/outbox"
	"github.com/meterflow/meterflow/services/workflow/internal/postgres/db"
	"github.com/meterflow/meterflow/services/workflow/internal/workflow"
)

// writes names, per state a change enters, the query of queries/runs.sql
// that Store.write runs for it: applyChangesSQL writes each change's
// columns as that query does.
var writes = map[workflow.State]string{
	workflow.StateRefused:     "MarkReserveRefused",
	workflow.StateQueuedHeld:  "MarkHeld",
	workflow.StateRunningHeld: "MarkRunning",
	workflow.StateAwaiting:    "MarkAwaiting",
	workflow.StateCapturing:   "RecordSuccess",
	workflow.StateReleasing:   "RecordFailure",
	workflow.StateCaptured:    "MarkCaptured",
	workflow.StateCaptureLost: "MarkCaptureLost",
	workflow.StateReleased:    "MarkReleased",
}

// applyChangesSQL is the conditional UPDATEs of queries/runs.sql for many
// runs in one statement: each change (a row of the unnest, one per run:
// groupcommit keys the batch by run id) is guarded by its from_states,
// enters its state and writes the columns its query (c.write) writes;
// every other column keeps its value. A run whose guard fails returns no
// row. Written by hand, as the wallet's reserveHoldsSQL: one statement
// for every target state needs a CASE per column on the query's name,
// which no generated query could share with the one-by-one ones.
var applyChangesSQL = `UPDATE runs r
SET status = c.to_status, hold_state = c.to_hold, updated_at = now(),
    error = CASE WHEN c.write IN ('MarkReserveRefused', 'RecordFailure', 'MarkCaptureLost') THEN c.error ELSE r.error END,
    input = CASE WHEN c.write = 'MarkReserveRefused' THEN c.input::jsonb ELSE r.input END,
    input_bytes = CASE WHEN c.write = 'MarkReserveRefused' THEN octet_length(c.input::jsonb::text) ELSE r.input_bytes END,
    started_at = CASE c.write WHEN 'MarkReserveRefused' THEN NULL WHEN 'MarkRunning' THEN now() ELSE r.started_at END,
    finished_at = CASE WHEN c.write IN ('MarkReserveRefused', 'RecordFailure', 'MarkCaptured', 'MarkCaptureLost')
        THEN now() ELSE r.finished_at END,
    callback_token_hash = CASE WHEN c.write = 'MarkRunning'
        THEN coalesce(c.callback_token_hash, r.callback_token_hash) ELSE r.callback_token_hash END,
    deadline_at = CASE WHEN c.write IN ('MarkRunning', 'RecordSuccess', 'RecordFailure')
        THEN coalesce(c.deadline_at, r.deadline_at) ELSE r.deadline_at END,
    http_status = CASE WHEN c.write = 'MarkAwaiting' OR (c.write IN ('RecordSuccess', 'RecordFailure') AND c.http_status <> 0)
        THEN c.http_status ELSE r.http_status END,
    output = CASE WHEN c.write IN ('RecordSuccess', 'RecordFailure') THEN c.output::jsonb ELSE r.output END,
    output_bytes = CASE WHEN c.write IN ('RecordSuccess', 'RecordFailure')
        THEN octet_length(c.output::jsonb::text) ELSE r.output_bytes END,
    charged_cents = CASE WHEN c.write IN ('RecordFailure', 'MarkCaptureLost') THEN 0
        WHEN c.write = 'MarkCaptured' THEN r.fee_cents ELSE r.charged_cents END
FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int[], $7::text[], $8::text[],
    $9::text[], $10::bytea[], $11::timestamptz[])
    WITH ORDINALITY AS c(id, write, to_status, to_hold, from_states, http_status, output, error, input,
    callback_token_hash, deadline_at, ord)
WHERE r.id = c.id AND r.status || '/' || r.hold_state = ANY(string_to_array(c.from_states, ','))
RETURNING c.ord, ` + prefixed("r.", runColumns)

// prefixed qualifies each of the comma-separated columns with prefix.
func prefixed(prefix, columns string) string {
	cols := strings.Split(columns, ",")
	for i, c := range cols {
		cols[i] = prefix + strings.TrimSpace(c)
	}
	return strings.Join(cols, ", ")
}

// applyBatch answers each of ins: a batch of one by applyOne, more by
// applyChanges in one transaction; when that fails as a whole (one bad
// change, a deadlock, the connection), one by one, so that one bad change
// cannot fail the others. A change the failed batch did commit (an error
// after the commit) is answered ErrStateChanged by its retry, as a
// replayed change is: its guard no longer holds, and its event and job
// were committed once, with it.
func (s *Store) applyBatch(ctx context.Context, ins []applyIn) []groupcommit.Result[workflow.Run] {
	return groupcommit.OneByOne(s.applyChanges, s.applyOne, s.batchOpts.observer("apply"))(ctx, ins)
}

// applyChanges applies ins in one transaction: one UPDATE, then the jobs
// of the runs it marked held (one River InsertManyTx) and the webhook
// events of the runs it settled (one INSERT into the outbox table); a
// batch with neither (a sync run's success, most failures) is the UPDATE
// alone. It stores each answer in out only when the transaction committed.
func (s *Store) applyChanges(ctx context.Context, ins []applyIn, out []groupcommit.Result[workflow.Run]) error {
	n := len(ins)
	var (
		ids                = make([]uuid.UUID, n)
		names, statuses    = make([]string, n), make([]string, n)
		holds, froms, errs = make([]string, n), make([]string, n), make([]string, n)
		httpStatuses       = make([]int32, n)
		outputs, inputs    = make([]pgtype.Text, n), make([]pgtype.Text, n)
		tokenHashes        = make([][]byte, n)
		deadlines          = make([]*time.Time, n)
		answers            = make([]groupcommit.Result[workflow.Run], n)
		seen               = make(map[uuid.UUID]bool, n)
	)
	for i, in := range ins {
		c := in.c
		name, ok := writes[c.To]
		if !ok {
			return fmt.Errorf("apply %s: no write enters %s", c.Event, c.To)
		}
		if seen[in.id] {
			return fmt.Errorf("run %s changed twice in one batch", in.id)
		}
		seen[in.id] = true
		ids[i], names[i], statuses[i], holds[i] = in.id, name, string(c.To.Status), string(c.To.Hold)
		froms[i], errs[i], httpStatuses[i] = strings.Join(fromStates(c), ","), c.Error, int32(c.HTTPStatus)
		outputs[i] = pgtype.Text{String: string(c.Output), Valid: c.Output != nil}
		inputs[i] = pgtype.Text{String: string(c.Input), Valid: c.Input != nil}
		tokenHashes[i], deadlines[i] = c.CallbackTokenHash, c.Deadline
		answers[i].Err = workflow.ErrStateChanged
	}
	update := func(q db.DBTX) error {
		rows, err := q.Query(ctx, applyChangesSQL, ids, names, statuses, holds, froms, httpStatuses, outputs, errs,
			inputs, tokenHashes, deadlines)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var ord int64
			row, err := scanRun(rows, &ord)
			if err != nil {
				return err
			}
			i := int(ord) - 1
			if i < 0 || i >= n || answers[i].Err == nil {
				return fmt.Errorf("the batch update answered change %d of %d", ord, n)
			}
			if answers[i].Out, err = toRun(row); err != nil {
				return err
			}
			answers[i].Err = nil
		}
		return rows.Err()
	}
	var err error
	if followed(ins) {
		err = s.inTx(ctx, func(tx pgx.Tx) error {
			if err := update(tx); err != nil {
				return err
			}
			return s.insertJobs(ctx, tx, ins, answers)
		})
	} else {
		// Nothing follows the UPDATE: it is its own (implicit)
		// transaction, one round trip instead of BEGIN, UPDATE, COMMIT,
		// as applyOne writes such a change alone. If its answer is lost
		// after it committed, the one-by-one fallback finds the runs
		// changed (ErrStateChanged) and the caller reloads them, as after
		// any lost answer.
		err = update(s.pool)
	}
	if err != nil {
		return err
	}
	copy(out, answers)
	return nil
}

// followed reports whether any change of ins writes more than its run's
// row when it applies: a job (a run marked held) or a webhook event (a
// run settled), which must commit in the UPDATE's transaction.
func followed(ins []applyIn) bool {
	for _, in := range ins {
		if in.c.To == workflow.StateQueuedHeld {
			return true
		}
		if _, publishes := in.c.Publishes(); publishes {
			return true
		}
	}
	return false
}

// insertJobs inserts, in tx, the job of each run answers mark held (one
// River InsertManyTx) and the webhook event of each run they settle (one
// INSERT into the outbox table), as applyOne does one by one.
func (s *Store) insertJobs(ctx context.Context, tx pgx.Tx, ins []applyIn, answers []groupcommit.Result[workflow.Run]) error {
	var (
		jobs   []river.InsertManyParams
		events []outbox.Event
	)
	for i, in := range ins {
		if answers[i].Err != nil {
			continue
		}
		run := answers[i].Out
		if in.c.To == workflow.StateQueuedHeld {
			jobs = append(jobs, river.InsertManyParams{Args: RunJobArgs{RunID: run.ID, TimeoutMS: run.TimeoutMS}})
			continue
		}
		typ, publishes := in.c.Publishes()
		if !publishes {
			continue
		}
		e, err := runEvent(typ, run, in.trace)
		if err != nil {
			return err
		}
		events = append(events, e)
	}
	if err := outbox.InsertEvents(ctx, tx, events); err != nil {
		return err
	}
	if len(jobs) == 0 {
		return nil
	}
	if s.queue == nil {
		return errors.New("insert run jobs: the store has no job queue (NewStore without one)")
	}
	if _, err := s.queue.InsertManyTx(ctx, tx, jobs); err != nil {
		return fmt.Errorf("insert %d run jobs: %w", len(jobs), err)
	}
	return nil
}
