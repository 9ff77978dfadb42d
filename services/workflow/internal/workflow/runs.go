package workflow

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"
	"unicode"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// StartRequest asks for a run of a workflow.
type StartRequest struct {
	Workflow       string
	Input          []byte
	IdempotencyKey string
	Async          bool
}

// StartRun records a run, reserves its fee and either calls n8n (sync: the
// finished run is returned, failed runs included) or queues the call
// (async: the queued run is returned at once). A run whose fee cannot be
// reserved fails with ErrInsufficientFunds and n8n is never called.
//
// Once recorded, a run is driven to a final state even if ctx is canceled:
// the caller going away must not leave a hold open or a call half-booked.
func (s *Service) StartRun(ctx context.Context, userID string, req StartRequest) (Run, error) {
	input, err := canonicalObject(req.Input)
	if err != nil {
		return Run{}, err
	}
	if err := checkIdempotencyKey(req.IdempotencyKey); err != nil {
		return Run{}, err
	}
	wf, err := s.runWorkflow(ctx, req.Workflow)
	if err == nil && !wf.Active {
		err = ErrWorkflowNotFound
	}
	if err != nil {
		return Run{}, err
	}
	hash := requestHash(wf.Slug, input)
	deadline := s.now().Add(wf.Timeout() + syncSlack)
	status := StatusRunning
	if req.Async {
		deadline = deadline.Add(s.AsyncStartWindow)
		status = StatusQueued
	}
	// A sync run is recorded running from the start: the mark is durable
	// before n8n is called, and the reserve's success needs no write of its
	// own (the hold stays "pending" in this table until the outcome is
	// recorded; a crash is settled the same way for pending and held).
	run, created, err := s.Store.CreateRun(ctx, Run{
		ID: uuid.Must(uuid.NewV7()), UserID: userID, Workflow: wf.Slug, Status: status, Hold: HoldPending,
		Async: req.Async, FeeCents: wf.FeeCents, TimeoutMS: wf.TimeoutMS, Input: input,
		IdempotencyKey: req.IdempotencyKey, RequestHash: hash, DeadlineAt: deadline,
	})
	if err != nil {
		return Run{}, err
	}
	if !created {
		return replay(run, hash, req.Async)
	}

	ctx, span := s.runSpan(ctx, "workflow.StartRun", run)
	defer span.End()
	ctx = context.WithoutCancel(ctx)

	if err := s.reserve(ctx, run); err != nil {
		return s.reserveFailed(ctx, run, err)
	}
	if req.Async {
		queued, err := s.Store.MarkHeldAndEnqueue(ctx, run.ID)
		if err != nil {
			// The fee is held but no job will run: undo now rather than
			// leave it to the settler after the deadline.
			s.fail(ctx, run, 0, nil, "could not be queued")
			span.SetStatus(codes.Error, "enqueue failed")
			return Run{}, fmt.Errorf("queue run %s: %w", run.ID, err)
		}
		return queued, nil
	}
	done, err := s.execute(ctx, run, wf)
	if err != nil {
		span.SetStatus(codes.Error, "run bookkeeping failed")
		return Run{}, err
	}
	if done.Status == StatusFailed {
		span.SetStatus(codes.Error, done.Error)
	}
	return done, nil
}

// replay answers a repeated idempotency key from the recorded run.
func replay(existing Run, hash []byte, async bool) (Run, error) {
	switch {
	case !bytes.Equal(existing.RequestHash, hash):
		return Run{}, ErrIdempotencyKeyReused
	case existing.Hold == HoldNone:
		return Run{}, ErrInsufficientFunds
	case existing.Hold == HoldPending:
		// The first request is still reserving (its answer, 202 or 402, is
		// not known yet) or, sync, still calling n8n.
		return Run{}, ErrRequestInProgress
	case async:
		return existing, nil
	case !existing.Status.Finished():
		return Run{}, ErrRequestInProgress
	}
	return existing, nil
}

func checkIdempotencyKey(k string) error {
	if len(k) > maxKeyLen {
		return invalid("idempotency_key", "must be 1-255 characters")
	}
	for _, c := range k {
		if c > unicode.MaxASCII || !unicode.IsPrint(c) {
			return invalid("idempotency_key", "must be printable ASCII")
		}
	}
	return nil
}

func (s *Service) runSpan(ctx context.Context, name string, r Run) (context.Context, trace.Span) {
	return tracer.Start(ctx, name, trace.WithAttributes(
		attribute.String("run.id", r.ID.String()),
		attribute.String("user.id", r.UserID),
		attribute.String("workflow.slug", r.Workflow),
	))
}

func (s *Service) reserve(ctx context.Context, r Run) error {
	ctx, cancel := context.WithTimeout(ctx, walletCallTimeout)
	defer cancel()
	return s.Wallet.Reserve(ctx, Hold{
		Key: r.HoldKey(), UserID: r.UserID, AmountCents: r.FeeCents, ExpiresAt: s.holdExpiry(r),
		Description: "Run of " + r.Workflow, RefType: "run", RefID: r.ID.String(),
	})
}

func (s *Service) reserveFailed(ctx context.Context, r Run, err error) (Run, error) {
	if errors.Is(err, ErrInsufficientFunds) {
		// The run costs nothing: it keeps only a preview of its input.
		if _, err := s.Store.MarkReserveRefused(ctx, r.ID, "insufficient funds", refusedInput(r.Input)); err != nil {
			s.log().ErrorContext(ctx, "record refused reserve", "run_id", r.ID, "err", err)
		} else {
			s.metrics().RunFinished(r.Workflow, StatusFailed, 0)
		}
		return Run{}, ErrInsufficientFunds
	}
	// The outcome is unknown: a hold may exist, or its COMMIT may still be
	// landing in the wallet's database. Fail the run now but leave the
	// release to the settler (after deadline + grace): a release sent at
	// once can find no hold yet, count it as never made, and miss the hold
	// committed a moment later, which then stays held until the wallet's
	// expiry (found by the reliability drills' cut COMMIT).
	s.log().WarnContext(ctx, "reserve failed", "run_id", r.ID, "err", err)
	if failed, ferr := s.Store.RecordFailure(ctx, r.ID, 0, nil, "wallet unavailable"); ferr == nil {
		s.finished(ctx, failed)
	} else if !errors.Is(ferr, ErrStateChanged) {
		s.log().ErrorContext(ctx, "record run failure", "run_id", r.ID, "err", ferr)
	}
	return Run{}, fmt.Errorf("%w: %w", ErrWalletUnavailable, err)
}

// execute marks a held run running (sync runs are recorded running when
// created), calls n8n once and books the outcome. The running mark is written before
// the request: a run found running later may have reached n8n and is never
// sent again.
func (s *Service) execute(ctx context.Context, r Run, wf Workflow) (Run, error) {
	now := s.now()
	callEnd := now.Add(r.Timeout())
	if latest := r.DeadlineAt.Add(-settleReserve); latest.Before(callEnd) {
		callEnd = latest
	}
	timeout := callEnd.Sub(now)
	if timeout < time.Duration(MinTimeoutMS)*time.Millisecond/2 {
		return s.fail(ctx, r, 0, nil, "not started in time"), nil
	}
	var secret string
	switch {
	case wf.AuthConfigured():
		b, _, err := s.openSecret(wf)
		if err != nil {
			s.log().ErrorContext(ctx, "cannot decrypt workflow auth secret (was WORKFLOW_SECRETS_KEY changed, or the URL changed in the database?)", "workflow", wf.Slug)
			return s.fail(ctx, r, 0, nil, "workflow misconfigured: auth secret unreadable"), nil
		}
		secret = string(b)
	case wf.AuthHeaderName != "":
		// The secret was cleared by a URL change: without it n8n would
		// refuse the call, or a host that expects none would get the input.
		return s.fail(ctx, r, 0, nil, "workflow misconfigured: auth header value must be entered again"), nil
	}
	running := r
	if r.Status != StatusRunning {
		var err error
		running, err = s.Store.MarkRunning(ctx, r.ID)
		if errors.Is(err, ErrStateChanged) {
			return s.Store.GetRun(ctx, r.ID)
		}
		if err != nil {
			return Run{}, fmt.Errorf("mark run %s running: %w", r.ID, err)
		}
	}

	resp := s.Caller.Call(ctx, Request{
		URL: wf.WebhookURL, HeaderName: wf.AuthHeaderName, HeaderValue: secret,
		RunID: r.ID.String(), Body: r.Input, Timeout: timeout,
	})
	s.metrics().N8NAnswered(wf.Slug, resp.Class)
	if !resp.OK {
		return s.fail(ctx, running, resp.HTTPStatus, resp.Output, resp.Error), nil
	}
	rec, err := s.Store.RecordSuccess(ctx, r.ID, resp.HTTPStatus, resp.Output)
	if errors.Is(err, ErrStateChanged) {
		return s.Store.GetRun(ctx, r.ID)
	}
	if err != nil {
		// Left running: the settler fails and releases it after the deadline.
		return Run{}, fmt.Errorf("record success of run %s: %w", r.ID, err)
	}
	return s.capture(ctx, rec, 3), nil
}

// fail records a failure of a run whose fee is not charged, then releases
// the hold. It returns the run as it is afterwards.
func (s *Service) fail(ctx context.Context, r Run, httpStatus int, output []byte, msg string) Run {
	failed, err := s.Store.RecordFailure(ctx, r.ID, httpStatus, output, msg)
	if err != nil {
		if !errors.Is(err, ErrStateChanged) {
			s.log().ErrorContext(ctx, "record run failure", "run_id", r.ID, "err", err)
		}
		if cur, gerr := s.Store.GetRun(ctx, r.ID); gerr == nil {
			return cur
		}
		return r
	}
	s.finished(ctx, failed)
	return s.release(ctx, failed, 3)
}

// capture charges the held fee of a run whose success is recorded. When the
// wallet cannot be reached the run stays "capturing" for the settler.
func (s *Service) capture(ctx context.Context, r Run, attempts int) Run {
	for i := range attempts {
		if i > 0 {
			time.Sleep(time.Duration(i) * 100 * time.Millisecond)
		}
		cctx, cancel := context.WithTimeout(ctx, walletCallTimeout)
		err := s.Wallet.Capture(cctx, r.HoldKey())
		cancel()
		switch {
		case err == nil:
			done, err := s.Store.MarkCaptured(ctx, r.ID)
			if err != nil {
				return s.reload(ctx, r, "mark run captured", err)
			}
			s.finished(ctx, done)
			return done
		case errors.Is(err, ErrHoldGone):
			s.log().ErrorContext(ctx, "fee hold gone before capture: run succeeded without charge", "run_id", r.ID, "workflow", r.Workflow)
			done, err := s.Store.MarkCaptureLost(ctx, r.ID, "the fee hold had expired before capture; not charged")
			if err != nil {
				return s.reload(ctx, r, "mark capture lost", err)
			}
			s.finished(ctx, done)
			return done
		default:
			s.log().WarnContext(ctx, "capture failed", "run_id", r.ID, "attempt", i+1, "err", err)
		}
	}
	return r
}

// release frees the hold of a failed run. When the wallet cannot be reached
// the run stays "releasing" for the settler.
func (s *Service) release(ctx context.Context, r Run, attempts int) Run {
	for i := range attempts {
		if i > 0 {
			time.Sleep(time.Duration(i) * 100 * time.Millisecond)
		}
		cctx, cancel := context.WithTimeout(ctx, walletCallTimeout)
		err := s.Wallet.Release(cctx, r.HoldKey())
		cancel()
		if err == nil {
			done, err := s.Store.MarkReleased(ctx, r.ID)
			if err != nil {
				return s.reload(ctx, r, "mark run released", err)
			}
			return done
		}
		s.log().WarnContext(ctx, "release failed", "run_id", r.ID, "attempt", i+1, "err", err)
	}
	return r
}

func (s *Service) reload(ctx context.Context, r Run, what string, err error) Run {
	if !errors.Is(err, ErrStateChanged) {
		s.log().ErrorContext(ctx, what, "run_id", r.ID, "err", err)
	}
	if cur, gerr := s.Store.GetRun(ctx, r.ID); gerr == nil {
		return cur
	}
	return r
}

// finished reports a run that reached succeeded or failed.
func (s *Service) finished(ctx context.Context, r Run) {
	d, _ := r.Duration()
	s.metrics().RunFinished(r.Workflow, r.Status, d)
	s.log().InfoContext(ctx, "run finished", "run_id", r.ID, "workflow", r.Workflow, "status", string(r.Status),
		"http_status", r.HTTPStatus, "charged_cents", r.ChargedCents, "duration_ms", d.Milliseconds(), "error", r.Error)
}

// GetRun returns the run id if it belongs to userID (any run when userID is
// empty, for admins). Another user's run is ErrRunNotFound.
func (s *Service) GetRun(ctx context.Context, userID string, id string) (Run, error) {
	uid, err := uuid.Parse(id)
	if err != nil {
		return Run{}, ErrRunNotFound
	}
	r, err := s.Store.GetRun(ctx, uid)
	if err != nil {
		return Run{}, err
	}
	if userID != "" && r.UserID != userID {
		return Run{}, ErrRunNotFound
	}
	return r, nil
}

// ListRuns pages runs newest first.
func (s *Service) ListRuns(ctx context.Context, f RunFilter) ([]Run, error) {
	var err error
	if f.Limit, err = pageLimit(f.Limit); err != nil {
		return nil, err
	}
	return s.Store.ListRuns(ctx, f)
}
