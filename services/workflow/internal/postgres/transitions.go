package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/meterflow/meterflow/platform/outbox"
	"github.com/meterflow/meterflow/services/workflow/internal/postgres/db"
	"github.com/meterflow/meterflow/services/workflow/internal/workflow"
)

// Apply implements workflow.Store: one conditional UPDATE (queries/runs.sql)
// guarded by c.From, chosen by the state it enters, since that state
// decides which columns are written. The store decides nothing: which
// event may leave which state is the transition table's (workflow.Step).
// A change that settles the run's status also inserts its webhook event
// (workflow.Change.Publishes) as a row of the outbox table in the
// UPDATE's transaction: the event exists exactly when the settled run
// does (docs/adr/0014, 0021), and the store's relay is woken after the
// commit (OnEvents). With BatchWrites, concurrent calls share one
// transaction (applyBatch).
func (s *Store) Apply(ctx context.Context, id uuid.UUID, c workflow.Change) (workflow.Run, error) {
	in := applyIn{id: id, c: c}
	_, publishes := c.Publishes()
	if publishes {
		in.trace = outbox.Trace(ctx)
	}
	var (
		r   workflow.Run
		err error
	)
	if s.applies == nil {
		r, err = s.applyOne(ctx, in)
	} else {
		r, err = s.applies.Do(ctx, in)
	}
	if err == nil && publishes && s.onEvents != nil {
		s.onEvents()
	}
	return r, err
}

// OnEvents sets what the store calls after a commit that inserted
// webhook events: the relay's Wake. Call it before the store is used.
func (s *Store) OnEvents(wake func()) { s.onEvents = wake }

// applyIn is one Apply call: the change, and the trace of the call for
// the webhook event it may enqueue.
type applyIn struct {
	id    uuid.UUID
	c     workflow.Change
	trace map[string]string
}

// applyOne applies in alone, in a transaction of its own when it also
// inserts a job or an event.
func (s *Store) applyOne(ctx context.Context, in applyIn) (workflow.Run, error) {
	id, c := in.id, in.c
	if c.To == workflow.StateQueuedHeld {
		return s.markHeldAndEnqueue(ctx, c, id)
	}
	typ, publishes := c.Publishes()
	if !publishes {
		r, err := s.write(ctx, s.pool, id, c)
		return transition(r, err, c.Event)
	}
	var out workflow.Run
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		r, err := s.write(ctx, tx, id, c)
		if out, err = transition(r, err, c.Event); err != nil {
			return err
		}
		e, err := runEvent(typ, out, in.trace)
		if err != nil {
			return err
		}
		return outbox.InsertEvents(ctx, tx, []outbox.Event{e})
	})
	return out, err
}

// write runs the UPDATE that enters c.To on q (the pool, or a transaction).
func (s *Store) write(ctx context.Context, q db.DBTX, id uuid.UUID, c workflow.Change) (db.Run, error) {
	from := fromStates(c)
	to, hold := string(c.To.Status), string(c.To.Hold)
	var (
		r   db.Run
		err error
	)
	switch c.To {
	case workflow.StateRefused:
		r, err = s.q.MarkReserveRefused(ctx, q, db.MarkReserveRefusedParams{
			ID: id, FromStates: from, ToStatus: to, ToHold: hold, Error: c.Error, Input: c.Input})
	case workflow.StateRunningHeld:
		r, err = s.q.MarkRunning(ctx, q, db.MarkRunningParams{ID: id, FromStates: from, ToStatus: to, ToHold: hold,
			CallbackTokenHash: c.CallbackTokenHash, DeadlineAt: c.Deadline})
	case workflow.StateAwaiting:
		r, err = s.q.MarkAwaiting(ctx, q, db.MarkAwaitingParams{ID: id, FromStates: from, ToStatus: to, ToHold: hold,
			HttpStatus: int32(c.HTTPStatus)})
	case workflow.StateCapturing:
		r, err = s.q.RecordSuccess(ctx, q, db.RecordSuccessParams{
			ID: id, FromStates: from, ToStatus: to, ToHold: hold, HttpStatus: int32(c.HTTPStatus), Output: c.Output,
			DeadlineAt: c.Deadline})
	case workflow.StateReleasing:
		r, err = s.q.RecordFailure(ctx, q, db.RecordFailureParams{
			ID: id, FromStates: from, ToStatus: to, ToHold: hold, HttpStatus: int32(c.HTTPStatus), Output: c.Output, Error: c.Error,
			DeadlineAt: c.Deadline})
	case workflow.StateCaptured:
		r, err = s.q.MarkCaptured(ctx, q, db.MarkCapturedParams{ID: id, FromStates: from, ToStatus: to, ToHold: hold})
	case workflow.StateCaptureLost:
		r, err = s.q.MarkCaptureLost(ctx, q, db.MarkCaptureLostParams{ID: id, FromStates: from, ToStatus: to, ToHold: hold, Error: c.Error})
	case workflow.StateReleased:
		r, err = s.q.MarkReleased(ctx, q, db.MarkReleasedParams{ID: id, FromStates: from, ToStatus: to, ToHold: hold})
	default:
		err = fmt.Errorf("no write enters %s", c.To)
	}
	return r, err
}

// fromStates is c.From as the guards compare it ("status/hold").
func fromStates(c workflow.Change) []string {
	from := make([]string, len(c.From))
	for i, st := range c.From {
		from[i] = st.String()
	}
	return from
}

// runEvent is run's webhook event typ, a row of the outbox table
// (platform/outbox): its data is the run as GET /v1/runs/{id} shows it,
// as of the transaction that settled it, and trace is the trace of the
// call.
func runEvent(typ string, run workflow.Run, trace map[string]string) (outbox.Event, error) {
	data, err := run.PublicJSON()
	if err != nil {
		return outbox.Event{}, fmt.Errorf("publish %s: %w", typ, err)
	}
	e := outbox.Event{UserID: run.UserID.String(), Type: typ, Data: data, Trace: trace}
	if run.FinishedAt != nil {
		e.OccurredAt = *run.FinishedAt
	}
	return e, nil
}

// transition maps a conditional update's result: no row means the run was
// not in a state the event may leave.
func transition(r db.Run, err error, event workflow.Event) (workflow.Run, error) {
	if errors.Is(err, pgx.ErrNoRows) {
		return workflow.Run{}, workflow.ErrStateChanged
	}
	if err != nil {
		return workflow.Run{}, fmt.Errorf("apply %s: %w", event, err)
	}
	return toRun(r)
}

// markHeldAndEnqueue marks the run held and inserts its job in one
// transaction, so a committed held async run always has a job and a job
// always finds its run.
func (s *Store) markHeldAndEnqueue(ctx context.Context, c workflow.Change, id uuid.UUID) (workflow.Run, error) {
	p := db.MarkHeldParams{ID: id, FromStates: fromStates(c), ToStatus: string(c.To.Status), ToHold: string(c.To.Hold)}
	var out workflow.Run
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		r, err := s.q.MarkHeld(ctx, tx, p)
		if out, err = transition(r, err, c.Event); err != nil {
			return err
		}
		if _, err := s.queue.InsertTx(ctx, tx, RunJobArgs{RunID: p.ID, TimeoutMS: out.TimeoutMS}, nil); err != nil {
			return fmt.Errorf("insert run job: %w", err)
		}
		return nil
	})
	return out, err
}
