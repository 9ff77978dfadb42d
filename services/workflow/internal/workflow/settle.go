package workflow

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// ExecuteQueued runs the queued async run id. It is the job of the durable
// queue and may be retried: an attempt that finds the run already running
// knows an earlier attempt may have reached n8n, so it fails and releases
// the run instead of calling again. Errors before the request is sent, and
// holds left open, are returned so the queue retries.
func (s *Service) ExecuteQueued(ctx context.Context, id uuid.UUID) error {
	r, err := s.store.GetRun(ctx, id)
	if err != nil {
		return fmt.Errorf("load run %s: %w", id, err)
	}
	ctx, span := s.runSpan(ctx, "workflow.ExecuteQueued", r)
	defer span.End()
	// The queue cancels a job's context on shutdown; a request in flight
	// must still be booked, so only our own deadlines apply from here.
	ctx = context.WithoutCancel(ctx)

	switch st := r.State(); {
	case Allows(st, EventStarted):
		if s.startTooLate(r) {
			r = s.fail(ctx, r, failure(EventNotSent, fmt.Sprintf("not started within %s of being queued", s.asyncStartWindow)))
			return unsettled(r)
		}
		wf, err := s.store.GetWorkflow(ctx, r.Workflow)
		if errors.Is(err, ErrWorkflowNotFound) || (err == nil && !wf.Active) {
			return unsettled(s.fail(ctx, r, failure(EventNotSent, "workflow is no longer active")))
		}
		if err != nil {
			return fmt.Errorf("load workflow of run %s: %w", id, err)
		}
		done, err := s.execute(ctx, r, wf, "")
		if err != nil {
			return err
		}
		return unsettled(done)
	case Allows(st, EventJobRetried):
		return unsettled(s.fail(ctx, r, failure(EventJobRetried, "interrupted: the request may have reached n8n and is not sent again")))
	}
	return unsettled(s.settleDue(ctx, r, 1))
}

// startTooLate reports whether a queued run can no longer be started: its
// call (and, in callback mode, its verdict window) would end after its
// deadline, i.e. it waited longer than the async start window.
func (s *Service) startTooLate(r Run) bool {
	if r.Completion == CompletionCallback {
		return s.now().Add(r.window()).After(r.DeadlineAt)
	}
	return s.now().Add(r.Timeout()).After(r.DeadlineAt.Add(-settleReserve))
}

// deadlineError is the error of a run failed at its deadline: a run in
// callback mode that was called waited for a verdict that did not come.
func deadlineError(r Run) string {
	if r.Completion == CompletionCallback && r.Status == StatusRunning {
		return CallbackTimeout
	}
	return "interrupted: the run did not finish before its deadline"
}

// unsettled asks the queue to retry the job while the run's state still
// owes a wallet call.
func unsettled(r Run) error {
	if Info(r.State()).Due != DueNothing {
		return fmt.Errorf("run %s: %w", r.ID, ErrUnsettled)
	}
	return nil
}

// settleBatch bounds one settler pass.
const settleBatch = 100

// SettleOverdue finishes runs whose deadline plus SettleGrace has passed and
// whose hold is not final (the process that ran them died, or the wallet was
// unreachable): a recorded success is captured; anything else is failed as
// interrupted and released. Conditional updates make concurrent settlers
// (replicas) settle each run once; the wallet's capture and release are
// idempotent by key. It returns how many runs it settled.
func (s *Service) SettleOverdue(ctx context.Context) (int, error) {
	runs, err := s.store.ListUnsettled(ctx, s.now().Add(-s.settleGrace), settleBatch)
	if err != nil {
		return 0, fmt.Errorf("list unsettled runs: %w", err)
	}
	n := 0
	for _, r := range runs {
		if ctx.Err() != nil {
			break
		}
		var done Run
		switch st := r.State(); {
		case Allows(st, EventDeadline):
			done = s.fail(ctx, r, failure(EventDeadline, deadlineError(r)))
		case Info(st).Due != DueNothing:
			done = s.settleDue(ctx, r, 1)
		default:
			continue
		}
		if !Info(done.State()).Open {
			n++
			s.metrics.OverdueSettled(done.Hold)
			s.log.WarnContext(ctx, "settled overdue run", "run_id", r.ID, "workflow", r.Workflow, "hold", string(done.Hold), "status", string(done.Status))
		}
	}
	return n, nil
}

// RunSettler calls SettleOverdue now and then every interval until ctx ends.
func (s *Service) RunSettler(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := s.SettleOverdue(ctx); err != nil && ctx.Err() == nil {
			s.log.ErrorContext(ctx, "settler pass failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
