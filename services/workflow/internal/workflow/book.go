package workflow

import (
	"context"
	"errors"
	"time"
)

// failure returns the Change of a failure event with its message.
func failure(ev Event, msg string) Change {
	c := Step(ev)
	c.Error = msg
	return c
}

// fail records a failure of a run whose fee is not charged (c is a failure
// event), then releases the hold. It returns the run as it is afterwards.
func (s *Service) fail(ctx context.Context, r Run, c Change) Run {
	failed, err := s.store.Apply(ctx, r.ID, c)
	if err != nil {
		if !errors.Is(err, ErrStateChanged) {
			s.log.ErrorContext(ctx, "record run failure", "run_id", r.ID, "err", err)
		}
		if cur, gerr := s.store.GetRun(ctx, r.ID); gerr == nil {
			return cur
		}
		return r
	}
	s.finished(ctx, failed)
	return s.settleDue(ctx, failed, 3)
}

// settleDue makes the wallet call the run's state owes (StateInfo.Due),
// trying up to attempts times, and returns the run as it is afterwards.
func (s *Service) settleDue(ctx context.Context, r Run, attempts int) Run {
	switch Info(r.State()).Due {
	case DueCapture:
		return s.capture(ctx, r, attempts)
	case DueRelease:
		return s.release(ctx, r, attempts)
	}
	return r
}

// capture charges the held fee of a run whose success is recorded. When the
// wallet cannot be reached the run stays "capturing" for the settler.
func (s *Service) capture(ctx context.Context, r Run, attempts int) Run {
	err := s.callWallet(ctx, r, "capture", attempts, s.wallet.Capture, ErrHoldGone)
	switch {
	case err == nil:
		done, err := s.store.Apply(ctx, r.ID, Step(EventCaptured))
		if err != nil {
			return s.reload(ctx, r, "mark run captured", err)
		}
		s.finished(ctx, done)
		return done
	case errors.Is(err, ErrHoldGone):
		s.log.ErrorContext(ctx, "fee hold gone before capture: run succeeded without charge", "run_id", r.ID, "workflow", r.Workflow)
		done, err := s.store.Apply(ctx, r.ID, failure(EventCaptureLost, "the fee hold had expired before capture; not charged"))
		if err != nil {
			return s.reload(ctx, r, "mark capture lost", err)
		}
		s.finished(ctx, done)
		return done
	}
	return r
}

// release frees the hold of a failed run. When the wallet cannot be reached
// the run stays "releasing" for the settler.
func (s *Service) release(ctx context.Context, r Run, attempts int) Run {
	if err := s.callWallet(ctx, r, "release", attempts, s.wallet.Release, nil); err != nil {
		return r
	}
	done, err := s.store.Apply(ctx, r.ID, Step(EventReleased))
	if err != nil {
		return s.reload(ctx, r, "mark run released", err)
	}
	return done
}

// callWallet calls the wallet for r's hold up to attempts times, pausing
// longer before each retry, until it succeeds or answers final (an answer
// a retry cannot change). It returns the last error.
func (s *Service) callWallet(ctx context.Context, r Run, what string, attempts int, call func(context.Context, string) error, final error) error {
	var err error
	for i := range attempts {
		if i > 0 {
			time.Sleep(time.Duration(i) * 100 * time.Millisecond)
		}
		cctx, cancel := context.WithTimeout(ctx, walletCallTimeout)
		err = call(cctx, r.HoldKey())
		cancel()
		if err == nil || (final != nil && errors.Is(err, final)) {
			return err
		}
		s.log.WarnContext(ctx, what+" failed", "run_id", r.ID, "attempt", i+1, "err", err)
	}
	return err
}

func (s *Service) reload(ctx context.Context, r Run, what string, err error) Run {
	if !errors.Is(err, ErrStateChanged) {
		s.log.ErrorContext(ctx, what, "run_id", r.ID, "err", err)
	}
	if cur, gerr := s.store.GetRun(ctx, r.ID); gerr == nil {
		return cur
	}
	return r
}

// finished reports a run that reached succeeded or failed.
func (s *Service) finished(ctx context.Context, r Run) {
	d, _ := r.Duration()
	s.metrics.RunFinished(r.Workflow, r.Status, d)
	s.log.InfoContext(ctx, "run finished", "run_id", r.ID, "workflow", r.Workflow, "status", string(r.Status),
		"http_status", r.HTTPStatus, "charged_cents", r.ChargedCents, "duration_ms", d.Milliseconds(), "error", r.Error)
}
