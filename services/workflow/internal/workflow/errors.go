package workflow

import (
	"errors"
	"strings"
)

// Errors callers can cause or observe. The gRPC layer maps each once.
var (
	ErrWorkflowNotFound     = errors.New("workflow not found")
	ErrRunNotFound          = errors.New("run not found")
	ErrSlugTaken            = errors.New("slug taken")
	ErrInsufficientFunds    = errors.New("insufficient funds")
	ErrIdempotencyKeyReused = errors.New("idempotency key reused with a different request")
	ErrRequestInProgress    = errors.New("a request with this idempotency key is still in progress")
	ErrWalletUnavailable    = errors.New("wallet unavailable")
	// ErrStateChanged is returned by the store when a conditional update
	// found the run in another state (someone else moved it first).
	ErrStateChanged = errors.New("run state changed concurrently")
	// ErrHoldGone is returned by the wallet when a hold can no longer be
	// captured (released or expired).
	ErrHoldGone = errors.New("hold no longer open")
)

// FieldError names one invalid input field.
type FieldError struct {
	Field   string
	Message string
}

// ValidationError lists the invalid fields of a request.
type ValidationError struct {
	Fields []FieldError
}

// Error implements error.
func (e *ValidationError) Error() string {
	parts := make([]string, 0, len(e.Fields))
	for _, f := range e.Fields {
		parts = append(parts, f.Field+": "+f.Message)
	}
	return "invalid request: " + strings.Join(parts, "; ")
}

func (e *ValidationError) add(field, msg string) { e.Fields = append(e.Fields, FieldError{field, msg}) }

func (e *ValidationError) orNil() error {
	if e == nil || len(e.Fields) == 0 {
		return nil
	}
	return e
}

func invalid(field, msg string) error {
	return &ValidationError{Fields: []FieldError{{field, msg}}}
}
