package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/meterflow/meterflow/services/workflow/internal/postgres/db"
	"github.com/meterflow/meterflow/services/workflow/internal/workflow"
)

// Apply implements workflow.Store: one conditional UPDATE (queries/runs.sql)
// guarded by c.From, chosen by the state it enters, since that state
// decides which columns are written. The store decides nothing: which
// event may leave which state is the transition table's (workflow.Step).
func (s *Store) Apply(ctx context.Context, id uuid.UUID, c workflow.Change) (workflow.Run, error) {
	from := make([]string, len(c.From))
	for i, st := range c.From {
		from[i] = st.String()
	}
	to, hold := string(c.To.Status), string(c.To.Hold)
	var (
		r   db.Run
		err error
	)
	switch c.To {
	case workflow.StateRefused:
		r, err = s.q.MarkReserveRefused(ctx, s.pool, db.MarkReserveRefusedParams{
			ID: id, FromStates: from, ToStatus: to, ToHold: hold, Error: c.Error, Input: c.Input})
	case workflow.StateQueuedHeld:
		return s.markHeldAndEnqueue(ctx, c.Event, db.MarkHeldParams{ID: id, FromStates: from, ToStatus: to, ToHold: hold})
	case workflow.StateRunningHeld:
		r, err = s.q.MarkRunning(ctx, s.pool, db.MarkRunningParams{ID: id, FromStates: from, ToStatus: to, ToHold: hold,
			CallbackTokenHash: c.CallbackTokenHash, DeadlineAt: c.Deadline})
	case workflow.StateAwaiting:
		r, err = s.q.MarkAwaiting(ctx, s.pool, db.MarkAwaitingParams{ID: id, FromStates: from, ToStatus: to, ToHold: hold,
			HttpStatus: int32(c.HTTPStatus)})
	case workflow.StateCapturing:
		r, err = s.q.RecordSuccess(ctx, s.pool, db.RecordSuccessParams{
			ID: id, FromStates: from, ToStatus: to, ToHold: hold, HttpStatus: int32(c.HTTPStatus), Output: c.Output,
			DeadlineAt: c.Deadline})
	case workflow.StateReleasing:
		r, err = s.q.RecordFailure(ctx, s.pool, db.RecordFailureParams{
			ID: id, FromStates: from, ToStatus: to, ToHold: hold, HttpStatus: int32(c.HTTPStatus), Output: c.Output, Error: c.Error,
			DeadlineAt: c.Deadline})
	case workflow.StateCaptured:
		r, err = s.q.MarkCaptured(ctx, s.pool, db.MarkCapturedParams{ID: id, FromStates: from, ToStatus: to, ToHold: hold})
	case workflow.StateCaptureLost:
		r, err = s.q.MarkCaptureLost(ctx, s.pool, db.MarkCaptureLostParams{ID: id, FromStates: from, ToStatus: to, ToHold: hold, Error: c.Error})
	case workflow.StateReleased:
		r, err = s.q.MarkReleased(ctx, s.pool, db.MarkReleasedParams{ID: id, FromStates: from, ToStatus: to, ToHold: hold})
	default:
		return workflow.Run{}, fmt.Errorf("apply %s: no write enters %s", c.Event, c.To)
	}
	return transition(r, err, string(c.Event))
}

// transition maps a conditional update's result: no row means the run was
// not in a state the event may leave.
func transition(r db.Run, err error, event string) (workflow.Run, error) {
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
func (s *Store) markHeldAndEnqueue(ctx context.Context, ev workflow.Event, p db.MarkHeldParams) (workflow.Run, error) {
	var out workflow.Run
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		r, err := s.q.MarkHeld(ctx, tx, p)
		if out, err = transition(r, err, string(ev)); err != nil {
			return err
		}
		if _, err := s.queue.InsertTx(ctx, tx, RunJobArgs{RunID: p.ID, TimeoutMS: out.TimeoutMS}, nil); err != nil {
			return fmt.Errorf("insert run job: %w", err)
		}
		return nil
	})
	return out, err
}
