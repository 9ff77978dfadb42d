package grpcapi

import (
	"errors"

	"google.golang.org/grpc/codes"

	"github.com/meterflow/meterflow/platform/rpcerr"
	"github.com/meterflow/meterflow/services/identity/internal/identity"
)

// toStatus maps every error of the identity service to a gRPC status with
// the contract's reason: identity's own errors here, the rest as every
// service maps them (rpcerr.FromError; an unexpected error is Internal and
// keeps its cause for the server's log).
func toStatus(err error) error {
	var terr *identity.ThrottledError
	switch {
	case errors.As(err, &terr):
		return rpcerr.Throttled("too many failed logins; retry later", terr.RetryAfter)
	case errors.Is(err, identity.ErrBusy):
		// Retryable and not the caller's fault: Unavailable, which the
		// gateway answers 503 (never 500, never 429).
		return rpcerr.New(codes.Unavailable, rpcerr.ServiceUnavailable, "too many password checks at once; retry shortly")
	case errors.Is(err, identity.ErrEmailTaken):
		return rpcerr.New(codes.AlreadyExists, rpcerr.EmailTaken, "email is already registered")
	case errors.Is(err, identity.ErrInvalidCredentials):
		return rpcerr.New(codes.Unauthenticated, rpcerr.InvalidCredentials, "invalid email or password")
	case errors.Is(err, identity.ErrInvalidLink):
		return rpcerr.New(codes.InvalidArgument, rpcerr.InvalidToken, identity.ErrInvalidLink.Error())
	case errors.Is(err, identity.ErrAlreadyVerified):
		return rpcerr.New(codes.FailedPrecondition, rpcerr.AlreadyVerified, "the email is verified already")
	case errors.Is(err, identity.ErrInvalidToken):
		return rpcerr.New(codes.Unauthenticated, rpcerr.InvalidToken, "invalid or expired refresh token")
	case errors.Is(err, identity.ErrUnauthorized):
		return rpcerr.New(codes.Unauthenticated, rpcerr.Unauthorized, "account is disabled")
	case errors.Is(err, identity.ErrInvalidAPIKey):
		return rpcerr.New(codes.Unauthenticated, rpcerr.InvalidAPIKey, "the API key is revoked, expired, unknown or malformed")
	case errors.Is(err, identity.ErrLimitReached):
		return rpcerr.New(codes.FailedPrecondition, rpcerr.LimitReached, "a user may hold at most 25 active API keys; revoke one first")
	case errors.Is(err, identity.ErrAPIKeyNotFound):
		return rpcerr.New(codes.NotFound, rpcerr.NotFound, "API key not found")
	case errors.Is(err, identity.ErrNotFound):
		return rpcerr.New(codes.NotFound, rpcerr.NotFound, "user not found")
	case errors.Is(err, identity.ErrForbidden):
		return rpcerr.New(codes.PermissionDenied, rpcerr.Forbidden, "admin role required")
	case errors.Is(err, identity.ErrSelfChange):
		return rpcerr.New(codes.FailedPrecondition, rpcerr.Conflict, identity.ErrSelfChange.Error())
	}
	return rpcerr.FromError(err, "the identity database is unreachable; try again shortly")
}
