// Package workflow holds the workflow catalog and the rules of paid runs:
// reserve the fee, call n8n once, capture on 2xx and release otherwise, and
// settle whatever a crash left unfinished. It imports neither gRPC nor pgx.
package workflow

import (
	"time"

	"github.com/google/uuid"

	"github.com/meterflow/meterflow/platform/paging"
)

// Status is a run's public state.
type Status string

// Run statuses.
const (
	StatusQueued    Status = "queued"
	StatusRunning   Status = "running"
	StatusSucceeded Status = "succeeded"
	StatusFailed    Status = "failed"
)

// ParseStatus returns the status named s, or false for anything else.
func ParseStatus(s string) (Status, bool) {
	switch st := Status(s); st {
	case StatusQueued, StatusRunning, StatusSucceeded, StatusFailed:
		return st, true
	}
	return "", false
}

// Finished reports whether the run will not change any more (its hold may
// still be settling in the background).
func (s Status) Finished() bool { return s == StatusSucceeded || s == StatusFailed }

// HoldState is the wallet hold of a run as this service knows it.
type HoldState string

// Hold states. Pending, held, capturing and releasing are unsettled: the
// settler finishes them after the run's deadline plus the grace period.
const (
	// HoldPending: the reserve was sent but its success is not recorded; a
	// hold may exist. A sync run keeps it through the call to n8n (the
	// process that reserved knows the outcome and records the next state).
	HoldPending HoldState = "pending"
	// HoldNone: the wallet refused the reserve; there is no hold.
	HoldNone HoldState = "none"
	// HoldHeld: the fee is held.
	HoldHeld HoldState = "held"
	// HoldAwaiting: n8n acknowledged the call of a run in callback mode;
	// the fee stays held until the workflow's verdict or the deadline.
	HoldAwaiting HoldState = "awaiting"
	// HoldCapturing: n8n answered 2xx and the capture is due.
	HoldCapturing HoldState = "capturing"
	// HoldReleasing: the run failed and the release is due.
	HoldReleasing HoldState = "releasing"
	// HoldCaptured: the fee was charged.
	HoldCaptured HoldState = "captured"
	// HoldReleased: the hold was freed without charge.
	HoldReleased HoldState = "released"
)

// Completion is how a workflow's runs learn their outcome.
type Completion string

// Completion modes.
const (
	// CompletionResponse: n8n's HTTP answer is the outcome (2xx succeeded).
	CompletionResponse Completion = "response"
	// CompletionCallback: n8n's 2xx answer only acknowledges the call; the
	// workflow posts its verdict to the run's callback URL.
	CompletionCallback Completion = "callback"
)

// ParseCompletion returns the mode named s, or false for anything else.
func ParseCompletion(s string) (Completion, bool) {
	switch c := Completion(s); c {
	case CompletionResponse, CompletionCallback:
		return c, true
	}
	return "", false
}

// Workflow is a catalog entry.
type Workflow struct {
	Slug           string
	Name           string
	Description    string
	WebhookURL     string
	AuthHeaderName string
	// AuthHeaderValueEnc is the sealed header value; nil when none is set.
	AuthHeaderValueEnc []byte
	FeeCents           int64
	TimeoutMS          int64
	Active             bool
	// Completion is the workflow's mode; CallbackTimeoutMS how long its
	// runs wait for a verdict in callback mode.
	Completion        Completion
	CallbackTimeoutMS int64
	// SigningSecretEnc is the sealed Standard Webhooks secret ("whsec_...")
	// its calls are signed with; nil: calls are not signed.
	SigningSecretEnc []byte
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// SigningConfigured reports whether calls are signed.
func (w Workflow) SigningConfigured() bool { return len(w.SigningSecretEnc) > 0 }

// AuthConfigured reports whether a header secret is stored.
func (w Workflow) AuthConfigured() bool {
	return w.AuthHeaderName != "" && len(w.AuthHeaderValueEnc) > 0
}

// Timeout is the workflow's per-call timeout.
func (w Workflow) Timeout() time.Duration { return time.Duration(w.TimeoutMS) * time.Millisecond }

// Run is one paid call of a workflow.
type Run struct {
	ID           uuid.UUID
	UserID       uuid.UUID
	Workflow     string
	Status       Status
	Hold         HoldState
	Async        bool
	FeeCents     int64
	ChargedCents int64
	TimeoutMS    int64
	// Input is the JSON object sent to n8n (a Truncated preview for a run
	// refused before the call). Lists leave it nil when it is over
	// MaxListValueBytes.
	Input []byte
	// Output is n8n's answer as a JSON value (a JSON string when it was not
	// JSON, a Truncated stand-in when it was over the response cap); nil
	// when there was none, and in lists when it is over MaxListValueBytes.
	Output         []byte
	HTTPStatus     int
	Error          string
	IdempotencyKey string
	RequestHash    []byte
	CreatedAt      time.Time
	StartedAt      *time.Time
	FinishedAt     *time.Time
	DeadlineAt     time.Time
	// APIKeyID is the API key the run was started with; uuid.Nil when it
	// was started with a login's access token.
	APIKeyID uuid.UUID
	// Completion is the workflow's mode when the run was started.
	Completion Completion
	// CallbackTokenHash is the SHA-256 of the run's callback token (callback
	// mode, once the token exists); CallbackTimeoutMS the verdict window.
	CallbackTokenHash []byte
	CallbackTimeoutMS int64
}

// AwaitingCallback reports whether the run waits for its verdict: callback
// mode, running, and no verdict recorded (the call may still be in flight).
func (r Run) AwaitingCallback() bool {
	return r.Completion == CompletionCallback && Allows(r.State(), EventVerdictSucceeded)
}

// CallbackDeadline is when a run waiting for its verdict fails with
// callback_timeout; false when it waits for none.
func (r Run) CallbackDeadline() (time.Time, bool) {
	if !r.AwaitingCallback() {
		return time.Time{}, false
	}
	return r.DeadlineAt, true
}

// window is how long after its call a run may take before the settler
// deems it stuck (its deadline, plus the async start window for a queued
// run): the call's timeout and the time to book it, and in callback mode
// the verdict window (never less than the call itself may take).
func (r Run) window() time.Duration {
	call := r.Timeout() + syncSlack
	if r.Completion == CompletionCallback {
		return max(time.Duration(r.CallbackTimeoutMS)*time.Millisecond, call)
	}
	return call
}

// ForUser is the run as the user who started it sees it. A failed run's
// output is n8n's error answer (n8n's own errors carry stack traces, hints
// and the webhook's path, which is often its only credential): only admins
// see it; the user sees the short error ("n8n answered 500").
func (r Run) ForUser() Run {
	if r.Status == StatusFailed {
		r.Output = nil
	}
	return r
}

// Timeout is the per-call timeout the run was created with.
func (r Run) Timeout() time.Duration { return time.Duration(r.TimeoutMS) * time.Millisecond }

// Duration is the time from the request to n8n to the end of the run, if both are known.
func (r Run) Duration() (time.Duration, bool) {
	if r.StartedAt == nil || r.FinishedAt == nil {
		return 0, false
	}
	return r.FinishedAt.Sub(*r.StartedAt), true
}

// HoldKey is the wallet reserve key of the run: its id.
func (r Run) HoldKey() string { return r.ID.String() }

// AuditEvent records one admin change.
type AuditEvent struct {
	ID         uuid.UUID
	ActorID    uuid.UUID
	Action     string
	TargetType string
	TargetID   string
	Reason     string
	// Before and After are JSON snapshots (never containing secrets); nil when absent.
	Before    []byte
	After     []byte
	CreatedAt time.Time
}

// Audit actions.
const (
	ActionCreate = "workflow.create"
	ActionUpdate = "workflow.update"
)

// RunFilter selects runs for a list.
type RunFilter struct {
	// UserID limits the list to one user's runs; uuid.Nil means every
	// user (admin).
	UserID   uuid.UUID
	Workflow string
	Status   Status
	// AwaitingCallback limits the list to the runs waiting for their
	// verdict (Run.AwaitingCallback).
	AwaitingCallback bool
	// Limit is the page size (0: paging.DefaultLimit). The service asks
	// the store for one row more, to know whether another page follows.
	Limit int
	// After is the position the page starts after; zero is the first page.
	After paging.Cursor
}

// AuditFilter selects audit events for a list.
type AuditFilter struct {
	TargetID string
	// Limit and After page as RunFilter's do.
	Limit int
	After paging.Cursor
}
