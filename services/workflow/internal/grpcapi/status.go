package grpcapi

import (
	"errors"

	"google.golang.org/grpc/codes"

	"github.com/meterflow/meterflow/platform/rpcerr"
	"github.com/meterflow/meterflow/services/workflow/internal/workflow"
)

// toStatus maps a service error to the gRPC status callers see. It is the
// only place where errors become codes: the workflow's own sentinels here,
// then what every service maps alike (validation, idempotency, cancel,
// deadline, an unreachable database, anything else as Internal with its
// cause for the log).
func toStatus(err error) error {
	switch {
	case errors.Is(err, workflow.ErrWorkflowNotFound):
		return rpcerr.New(codes.NotFound, rpcerr.WorkflowNotFound, "workflow not found")
	case errors.Is(err, workflow.ErrRunNotFound):
		return rpcerr.New(codes.NotFound, rpcerr.NotFound, "run not found")
	case errors.Is(err, workflow.ErrSlugTaken):
		return rpcerr.New(codes.AlreadyExists, rpcerr.SlugTaken, "a workflow with this slug exists")
	case errors.Is(err, workflow.ErrInsufficientFunds):
		return rpcerr.New(codes.FailedPrecondition, rpcerr.InsufficientFunds, "the available balance does not cover the workflow's fee")
	case errors.Is(err, workflow.ErrSpendLimitExceeded):
		return rpcerr.New(codes.FailedPrecondition, rpcerr.SpendLimitExceeded, "the fee would take the API key's spend this month over its monthly limit; nothing was called or charged")
	case errors.Is(err, workflow.ErrAlreadySettled):
		return rpcerr.New(codes.FailedPrecondition, rpcerr.AlreadySettled, "the run already has its outcome; a verdict counts once")
	case errors.Is(err, workflow.ErrWalletUnavailable):
		return rpcerr.New(codes.Unavailable, rpcerr.ServiceUnavailable, "the wallet is unavailable; nothing was charged")
	}
	return rpcerr.FromError(err, "the workflow service's database is unreachable; try again shortly (with the same Idempotency-Key)")
}
