package grpcapi

import (
	"github.com/meterflow/meterflow/platform/rpcerr"
)

// toStatus maps a service error to the gRPC status callers see. Notify
// has no sentinel of its own that reaches a caller: a bad request is a
// validation error (InvalidArgument, which the producers' outbox does not
// retry), a reused key idempotency_key_reused, an unreachable database
// Unavailable (retried).
func toStatus(err error) error {
	return rpcerr.FromError(err, "the notify service's database is unreachable; try again shortly with the same idempotency key")
}
