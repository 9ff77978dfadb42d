package grpcapi

import (
	"errors"

	"google.golang.org/grpc/codes"

	"github.com/meterflow/meterflow/platform/rpcerr"
	"github.com/meterflow/meterflow/services/notify/internal/webhooks"
)

// toStatus maps a service error to the gRPC status callers see: the
// webhook sentinels, then what every service shares (a bad request is a
// validation error, InvalidArgument, which the producers' outbox does not
// retry; a reused key idempotency_key_reused; an unreachable database
// Unavailable, retried).
func toStatus(err error) error {
	switch {
	case errors.Is(err, webhooks.ErrNotFound):
		return rpcerr.New(codes.NotFound, rpcerr.NotFound, "no such webhook endpoint or delivery")
	case errors.Is(err, webhooks.ErrLimitReached):
		return rpcerr.New(codes.FailedPrecondition, rpcerr.LimitReached, "a user may have at most 5 webhook endpoints; delete one first")
	case errors.Is(err, webhooks.ErrAlreadyPending):
		return rpcerr.New(codes.FailedPrecondition, rpcerr.AlreadyPending, "this delivery is pending: its next attempt is scheduled")
	}
	return rpcerr.FromError(err, "the notify service's database is unreachable; try again shortly with the same idempotency key")
}
