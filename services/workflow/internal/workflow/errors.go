package workflow

import "errors"

// Errors callers can cause or observe. The gRPC layer maps each once.
// Invalid input is a *validation.Error; a reused or busy Idempotency-Key is
// idempotency.ErrKeyReused or idempotency.ErrInProgress.
var (
	ErrWorkflowNotFound  = errors.New("workflow not found")
	ErrRunNotFound       = errors.New("run not found")
	ErrSlugTaken         = errors.New("slug taken")
	ErrInsufficientFunds = errors.New("insufficient funds")
	// ErrSpendLimitExceeded: the fee would take the run's API key over
	// its monthly spend limit; the wallet refused it and n8n is not called.
	ErrSpendLimitExceeded = errors.New("api key monthly spend limit exceeded")
	ErrWalletUnavailable  = errors.New("wallet unavailable")
	// ErrAlreadySettled: a verdict for a run that has its outcome already
	// (an earlier verdict, its deadline, or a failed call).
	ErrAlreadySettled = errors.New("run already settled")
	// ErrStateChanged is returned by the store when a conditional update
	// found the run in another state (someone else moved it first).
	ErrStateChanged = errors.New("run state changed concurrently")
	// ErrHoldGone is returned by the wallet when a hold can no longer be
	// captured (released or expired).
	ErrHoldGone = errors.New("hold no longer open")
	// ErrUnsettled tells the job queue that a run's hold is still open (the
	// wallet was unreachable): retrying the job finishes it.
	ErrUnsettled = errors.New("run hold not settled yet")
)
