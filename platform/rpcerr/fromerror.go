package rpcerr

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/meterflow/meterflow/platform/database/outage"
	"github.com/meterflow/meterflow/platform/idempotency"
	"github.com/meterflow/meterflow/platform/validation"
)

// FromError maps the errors that mean the same in every service; each
// service's toStatus handles its own sentinels first and ends with it:
//   - a *validation.Error: InvalidArgument validation_failed with its fields;
//   - idempotency.ErrKeyReused / ErrInProgress: idempotency_key_reused /
//     request_in_progress;
//   - the caller's cancellation or deadline;
//   - an unreachable database: Unavailable service_unavailable, with
//     unreachable as the message (say whose database and that a retry with
//     the same Idempotency-Key is safe);
//   - anything else: Internal, carrying err as its cause, which the server's
//     interceptor logs once (with the trace id) and never sends.
func FromError(err error, unreachable string) error {
	var ve *validation.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ve):
		fields := make([]FieldViolation, len(ve.Fields))
		for i, f := range ve.Fields {
			fields[i] = FieldViolation{Field: f.Field, Message: f.Message}
		}
		return Validation(ve.Error(), fields...)
	case errors.Is(err, idempotency.ErrKeyReused):
		return New(codes.FailedPrecondition, IdempotencyKeyReused, "this Idempotency-Key was already used with a different request")
	case errors.Is(err, idempotency.ErrInProgress):
		return New(codes.Aborted, RequestInProgress, "a request with this Idempotency-Key is still being processed; retry later")
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "request canceled")
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "deadline exceeded")
	case outage.Unreachable(err):
		return New(codes.Unavailable, ServiceUnavailable, unreachable)
	}
	return InternalError(err)
}

// InternalError returns an Internal status error ("internal error", reason
// internal) that keeps cause for the log: the server's interceptor logs
// Cause(err) and sends only the status.
func InternalError(cause error) error {
	return &internalError{cause: cause}
}

type internalError struct{ cause error }

func (e *internalError) Error() string { return "internal error: " + e.cause.Error() }
func (e *internalError) Unwrap() error { return e.cause }

// GRPCStatus is what gRPC sends: never the cause.
func (e *internalError) GRPCStatus() *status.Status {
	st, _ := status.FromError(New(codes.Internal, Internal, "internal error"))
	return st
}

// Cause returns the cause an InternalError carries, or nil.
func Cause(err error) error {
	var ie *internalError
	if errors.As(err, &ie) {
		return ie.cause
	}
	return nil
}
