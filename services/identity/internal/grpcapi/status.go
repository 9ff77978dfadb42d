package grpcapi

import (
	"context"
	"errors"
	"github.com/meterflow/meterflow/platform/database"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/meterflow/meterflow/platform/rpcerr"
	"github.com/meterflow/meterflow/services/identity/internal/identity"
)

// toStatus maps every error of the identity service to a gRPC status with
// the contract's reason. Anything unexpected is Internal, with no detail.
func toStatus(err error) error {
	var verr *identity.ValidationError
	var terr *identity.ThrottledError
	switch {
	case errors.As(err, &verr):
		fields := make([]rpcerr.FieldViolation, len(verr.Fields))
		for i, f := range verr.Fields {
			fields[i] = rpcerr.FieldViolation{Field: f.Field, Message: f.Message}
		}
		return rpcerr.Validation("invalid request", fields...)
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
	case errors.Is(err, identity.ErrInvalidToken):
		return rpcerr.New(codes.Unauthenticated, rpcerr.InvalidToken, "invalid or expired refresh token")
	case errors.Is(err, identity.ErrUnauthorized):
		return rpcerr.New(codes.Unauthenticated, rpcerr.Unauthorized, "account is disabled")
	case errors.Is(err, identity.ErrNotFound):
		return rpcerr.New(codes.NotFound, rpcerr.NotFound, "user not found")
	case errors.Is(err, identity.ErrForbidden):
		return rpcerr.New(codes.PermissionDenied, rpcerr.Forbidden, "admin role required")
	case errors.Is(err, identity.ErrSelfChange):
		return rpcerr.New(codes.FailedPrecondition, rpcerr.Conflict, identity.ErrSelfChange.Error())
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "request canceled")
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "deadline exceeded")
	case database.Unreachable(err):
		return rpcerr.New(codes.Unavailable, rpcerr.ServiceUnavailable, "the identity database is unreachable; try again shortly")
	}
	return rpcerr.New(codes.Internal, rpcerr.Internal, "internal error")
}
