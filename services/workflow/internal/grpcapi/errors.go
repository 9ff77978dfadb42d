package grpcapi

import (
	"context"
	"errors"
	"github.com/meterflow/meterflow/platform/database"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/meterflow/meterflow/platform/rpcerr"
	"github.com/meterflow/meterflow/services/workflow/internal/workflow"
)

// toStatus maps a service error to the gRPC status callers see. It is the
// only place where errors become codes.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	var verr *workflow.ValidationError
	switch {
	case errors.As(err, &verr):
		fields := make([]rpcerr.FieldViolation, len(verr.Fields))
		for i, f := range verr.Fields {
			fields[i] = rpcerr.FieldViolation{Field: f.Field, Message: f.Message}
		}
		return rpcerr.Validation(verr.Error(), fields...)
	case errors.Is(err, workflow.ErrWorkflowNotFound):
		return rpcerr.New(codes.NotFound, rpcerr.WorkflowNotFound, "workflow not found")
	case errors.Is(err, workflow.ErrRunNotFound):
		return rpcerr.New(codes.NotFound, rpcerr.NotFound, "run not found")
	case errors.Is(err, workflow.ErrSlugTaken):
		return rpcerr.New(codes.AlreadyExists, rpcerr.SlugTaken, "a workflow with this slug exists")
	case errors.Is(err, workflow.ErrInsufficientFunds):
		return rpcerr.New(codes.FailedPrecondition, rpcerr.InsufficientFunds, "the available balance does not cover the workflow's fee")
	case errors.Is(err, workflow.ErrIdempotencyKeyReused):
		return rpcerr.New(codes.FailedPrecondition, rpcerr.IdempotencyKeyReused, "this Idempotency-Key was used with a different request")
	case errors.Is(err, workflow.ErrRequestInProgress):
		return rpcerr.New(codes.Aborted, rpcerr.RequestInProgress, "a request with this Idempotency-Key is still in progress")
	case errors.Is(err, workflow.ErrWalletUnavailable):
		return rpcerr.New(codes.Unavailable, rpcerr.ServiceUnavailable, "the wallet is unavailable; nothing was charged")
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "canceled")
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "deadline exceeded")
	case database.Unreachable(err):
		return rpcerr.New(codes.Unavailable, rpcerr.ServiceUnavailable, "the workflow service's database is unreachable; try again shortly (with the same Idempotency-Key)")
	}
	return rpcerr.New(codes.Internal, rpcerr.Internal, "internal error")
}
