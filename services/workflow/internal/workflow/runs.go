package workflow

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/meterflow/meterflow/platform/idempotency"
	"github.com/meterflow/meterflow/platform/paging"
)

// StartRequest asks for a run of a workflow.
type StartRequest struct {
	Workflow       string
	Input          []byte
	IdempotencyKey string
	Async          bool
	// APIKeyID and APIKeyLimitCents are the API key's the call was made
	// with (its access token's claims); uuid.Nil and nil for a login.
	APIKeyID         uuid.UUID
	APIKeyLimitCents *int64
}

// Errors recorded on runs the wallet refused; a repeated Idempotency-Key
// answers with the refusal the run records (replay).
const (
	errorInsufficientFunds = "insufficient funds"
	errorSpendLimit        = "monthly spend limit of the API key exceeded"
)

// StartRun records a run, reserves its fee and either calls n8n (sync: the
// finished run is returned, failed runs included) or queues the call
// (async: the queued run is returned at once). A run whose fee cannot be
// reserved fails with ErrInsufficientFunds (or, for an API key's run,
// ErrSpendLimitExceeded) and n8n is never called.
//
// Once recorded, a run is driven to a final state even if ctx is canceled:
// the caller going away must not leave a hold open or a call half-booked.
//
// In callback mode a sync run waits for the workflow's verdict until the
// workflow's timeout has passed since the request began, and is returned
// still running when none has come by then (the gateway answers 202).
func (s *Service) StartRun(ctx context.Context, userID uuid.UUID, req StartRequest) (Run, error) {
	begun := s.now()
	input, err := canonicalObject(req.Input)
	if err != nil {
		return Run{}, err
	}
	if err := idempotency.CheckKey(req.IdempotencyKey); err != nil {
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
	st := initialState(req.Async)
	r := Run{
		ID: uuid.Must(uuid.NewV7()), UserID: userID, Workflow: wf.Slug, Status: st.Status, Hold: st.Hold,
		Async: req.Async, FeeCents: wf.FeeCents, TimeoutMS: wf.TimeoutMS, Input: input,
		IdempotencyKey: req.IdempotencyKey, RequestHash: hash, APIKeyID: req.APIKeyID,
		Completion: CompletionResponse,
	}
	var token string
	if wf.Completion == CompletionCallback {
		r.Completion, r.CallbackTimeoutMS = CompletionCallback, wf.CallbackTimeoutMS
		if !req.Async {
			// A sync run's call follows at once, with no write before it.
			if token, r.CallbackTokenHash, err = newCallbackToken(); err != nil {
				return Run{}, err
			}
		}
	}
	r.DeadlineAt = s.now().Add(r.window())
	if req.Async {
		r.DeadlineAt = r.DeadlineAt.Add(s.asyncStartWindow)
	}
	run, created, err := s.store.CreateRun(ctx, r)
	if err != nil {
		return Run{}, err
	}
	if !created {
		return s.replay(ctx, run, hash, req.Async, begun)
	}

	caller := ctx
	ctx, span := s.runSpan(ctx, "workflow.StartRun", run)
	defer span.End()
	ctx = context.WithoutCancel(ctx)

	if err := s.reserve(ctx, run, req.APIKeyLimitCents); err != nil {
		return s.reserveFailed(ctx, run, err)
	}
	if req.Async {
		queued, err := s.store.Apply(ctx, run.ID, Step(EventQueued))
		if err != nil {
			// The fee is held but no job will run: undo now rather than
			// leave it to the settler after the deadline.
			s.fail(ctx, run, failure(EventNotSent, "could not be queued"))
			span.SetStatus(codes.Error, "enqueue failed")
			return Run{}, fmt.Errorf("queue run %s: %w", run.ID, err)
		}
		return queued, nil
	}
	done, err := s.execute(ctx, run, wf, token)
	if err != nil {
		span.SetStatus(codes.Error, "run bookkeeping failed")
		return Run{}, err
	}
	if done.Completion == CompletionCallback {
		done = s.awaitOutcome(caller, done, begun.Add(done.Timeout()))
	}
	if done.Status == StatusFailed {
		span.SetStatus(codes.Error, done.Error)
	}
	return done, nil
}

// replay answers a repeated idempotency key from the recorded run, as its
// state says (StateInfo.Replay). A sync repeat of a callback-mode run that
// was called waits for the verdict as the first request does (its 202 or
// its outcome is the same answer).
func (s *Service) replay(ctx context.Context, existing Run, hash []byte, async bool, begun time.Time) (Run, error) {
	if !async && bytes.Equal(existing.RequestHash, hash) && existing.Completion == CompletionCallback &&
		existing.Hold != HoldPending && Info(existing.State()).Replay == ReplayRun && !existing.Status.Finished() {
		return s.awaitOutcome(ctx, existing, begun.Add(existing.Timeout())), nil
	}
	return replay(existing, hash, async)
}

// replay answers a repeated idempotency key from the recorded run alone.
func replay(existing Run, hash []byte, async bool) (Run, error) {
	if !bytes.Equal(existing.RequestHash, hash) {
		return Run{}, idempotency.ErrKeyReused
	}
	switch Info(existing.State()).Replay {
	case ReplayRefused:
		if existing.Error == errorSpendLimit {
			return Run{}, ErrSpendLimitExceeded
		}
		return Run{}, ErrInsufficientFunds
	case ReplayRun:
		if async || existing.Status.Finished() {
			return existing, nil
		}
	}
	// The first request is still reserving (its answer, 202 or 402, is not
	// known yet) or, sync, still calling n8n.
	return Run{}, idempotency.ErrInProgress
}

func (s *Service) runSpan(ctx context.Context, name string, r Run) (context.Context, trace.Span) {
	return tracer.Start(ctx, name, trace.WithAttributes(
		attribute.String("run.id", r.ID.String()),
		attribute.String("user.id", r.UserID.String()),
		attribute.String("workflow.slug", r.Workflow),
	))
}

// reserve holds r's fee; for an API key's run, within the key's monthly
// limit, which the wallet enforces in the same statement as the balance
// (so concurrent runs on any number of replicas never pass it).
func (s *Service) reserve(ctx context.Context, r Run, limitCents *int64) error {
	ctx, cancel := context.WithTimeout(ctx, walletCallTimeout)
	defer cancel()
	return s.wallet.Reserve(ctx, Hold{
		Key: r.HoldKey(), UserID: r.UserID, AmountCents: r.FeeCents, ExpiresAt: s.holdExpiry(r),
		Description: "Run of " + r.Workflow, RefType: "run", RefID: r.ID.String(),
		APIKeyID: r.APIKeyID, APIKeyLimitCents: limitCents,
	})
}

func (s *Service) reserveFailed(ctx context.Context, r Run, err error) (Run, error) {
	refusal := ""
	switch {
	case errors.Is(err, ErrInsufficientFunds):
		refusal, err = errorInsufficientFunds, ErrInsufficientFunds
	case errors.Is(err, ErrSpendLimitExceeded):
		refusal, err = errorSpendLimit, ErrSpendLimitExceeded
	}
	if refusal != "" {
		// The run costs nothing: it keeps only a preview of its input.
		c := Step(EventReserveRefused)
		c.Error, c.Input = refusal, refusedInput(r.Input)
		if _, aerr := s.store.Apply(ctx, r.ID, c); aerr != nil {
			s.log.ErrorContext(ctx, "record refused reserve", "run_id", r.ID, "err", aerr)
		} else {
			s.metrics.RunFinished(r.Workflow, StatusFailed, 0)
		}
		return Run{}, err
	}
	// The outcome is unknown: a hold may exist, or its COMMIT may still be
	// landing in the wallet's database. Fail the run now but leave the
	// release to the settler (after deadline + grace): a release sent at
	// once can find no hold yet, count it as never made, and miss the hold
	// committed a moment later, which then stays held until the wallet's
	// expiry (found by the reliability drills' cut COMMIT).
	s.log.WarnContext(ctx, "reserve failed", "run_id", r.ID, "err", err)
	if failed, ferr := s.store.Apply(ctx, r.ID, failure(EventReserveUnknown, "wallet unavailable")); ferr == nil {
		s.finished(ctx, failed)
	} else if !errors.Is(ferr, ErrStateChanged) {
		s.log.ErrorContext(ctx, "record run failure", "run_id", r.ID, "err", ferr)
	}
	return Run{}, fmt.Errorf("%w: %w", ErrWalletUnavailable, err)
}

// execute marks a held async run running (a sync run is recorded running
// when created), calls n8n once and books the outcome. The running mark is
// written before the request: a run found running later may have reached
// n8n and is never sent again. In callback mode the call carries the run's
// callback URL with token (a sync run's, made when it was recorded; an
// async run gets its own with the running mark), and a 2xx answer only
// acknowledges it.
func (s *Service) execute(ctx context.Context, r Run, wf Workflow, token string) (Run, error) {
	now := s.now()
	callEnd := now.Add(r.Timeout())
	if latest := r.DeadlineAt.Add(-settleReserve); latest.Before(callEnd) {
		callEnd = latest
	}
	timeout := callEnd.Sub(now)
	if timeout < time.Duration(MinTimeoutMS)*time.Millisecond/2 {
		return s.fail(ctx, r, failure(EventNotSent, "not started in time")), nil
	}
	signing, ok := s.signingKey(ctx, wf)
	if !ok {
		return s.fail(ctx, r, failure(EventNotSent, "workflow misconfigured: signing secret unreadable")), nil
	}
	var secret string
	switch {
	case wf.AuthConfigured():
		b, _, err := s.openSecret(wf)
		if err != nil {
			s.log.ErrorContext(ctx, "cannot decrypt workflow auth secret (was WORKFLOW_SECRETS_KEY changed, or the URL changed in the database?)", "workflow", wf.Slug)
			return s.fail(ctx, r, failure(EventNotSent, "workflow misconfigured: auth secret unreadable")), nil
		}
		secret = string(b)
	case wf.AuthHeaderName != "":
		// The secret was cleared by a URL change: without it n8n would
		// refuse the call, or a host that expects none would get the input.
		return s.fail(ctx, r, failure(EventNotSent, "workflow misconfigured: auth header value must be entered again")), nil
	}
	running := r
	if Allows(r.State(), EventStarted) {
		c := Step(EventStarted)
		if r.Completion == CompletionCallback {
			var err error
			if token, c.CallbackTokenHash, err = newCallbackToken(); err != nil {
				return s.fail(ctx, r, failure(EventNotSent, "could not make a callback token")), nil
			}
			// The verdict window starts with the call, not when the run was queued.
			d := s.now().Add(r.window())
			c.Deadline = &d
		}
		var err error
		running, err = s.store.Apply(ctx, r.ID, c)
		if errors.Is(err, ErrStateChanged) {
			return s.store.GetRun(ctx, r.ID)
		}
		if err != nil {
			return Run{}, fmt.Errorf("mark run %s running: %w", r.ID, err)
		}
	}

	req := Request{
		URL: wf.WebhookURL, HeaderName: wf.AuthHeaderName, HeaderValue: secret,
		RunID: r.ID.String(), Body: r.Input, Timeout: timeout, SigningKey: signing,
	}
	if r.Completion == CompletionCallback {
		req.CallbackURL = s.callbackURL(r.ID, token)
	}
	resp := s.caller.Call(ctx, req)
	s.metrics.N8NAnswered(wf.Slug, resp.Class)
	if !resp.OK {
		c := failure(EventCallFailed, resp.Error)
		c.HTTPStatus, c.Output = resp.HTTPStatus, resp.Output
		return s.fail(ctx, running, c), nil
	}
	c := Step(EventAnswered)
	c.HTTPStatus, c.Output = resp.HTTPStatus, resp.Output
	if r.Completion == CompletionCallback {
		// A receipt only: its body is not the run's output (the verdict's is).
		c = Step(EventAcknowledged)
		c.HTTPStatus = resp.HTTPStatus
	}
	rec, err := s.store.Apply(ctx, r.ID, c)
	if errors.Is(err, ErrStateChanged) {
		return s.store.GetRun(ctx, r.ID)
	}
	if err != nil {
		// Left running: the settler fails and releases it after the deadline.
		return Run{}, fmt.Errorf("record answer of run %s: %w", r.ID, err)
	}
	return s.settleDue(ctx, rec, 3), nil
}

// GetRun returns the run id if it belongs to owner (any run when owner is
// uuid.Nil, for admins). Another user's run is ErrRunNotFound.
func (s *Service) GetRun(ctx context.Context, owner uuid.UUID, id string) (Run, error) {
	rid, err := uuid.Parse(id)
	if err != nil {
		return Run{}, ErrRunNotFound
	}
	r, err := s.store.GetRun(ctx, rid)
	if err != nil {
		return Run{}, err
	}
	if owner != uuid.Nil && r.UserID != owner {
		return Run{}, ErrRunNotFound
	}
	return r, nil
}

// ListRuns pages runs newest first and returns the cursor of the next
// page ("" on the last).
func (s *Service) ListRuns(ctx context.Context, f RunFilter) ([]Run, string, error) {
	limit, err := paging.Limit(f.Limit)
	if err != nil {
		return nil, "", err
	}
	return page(limit, func(rows int) ([]Run, error) {
		f.Limit = rows
		return s.store.ListRuns(ctx, f)
	}, func(r Run) paging.Cursor { return paging.Cursor{CreatedAt: r.CreatedAt, ID: r.ID} })
}

// page reads one page of limit rows with fetch, asking for one row more to
// know whether another page follows: the next cursor (key of the last row)
// is set only then, never leading to an empty page.
func page[T any](limit int, fetch func(rows int) ([]T, error), key func(T) paging.Cursor) ([]T, string, error) {
	rows, err := fetch(limit + 1)
	if err != nil {
		return nil, "", err
	}
	rows, next := paging.Trim(rows, limit, key)
	return rows, next, nil
}
