package grpcapi

import (
	"context"
	"errors"
	"github.com/meterflow/meterflow/platform/database"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/meterflow/meterflow/platform/rpcerr"
	"github.com/meterflow/meterflow/services/wallet/internal/wallet"
)

// toStatus maps a business error to the gRPC status callers see, once.
// Anything unexpected is Internal without detail (it is logged by the
// server's interceptor); a failed commit therefore answers 5xx and Stripe
// retries its webhook.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	var ve *wallet.ValidationError
	switch {
	case errors.As(err, &ve):
		return rpcerr.Validation(ve.Error(), rpcerr.FieldViolation{Field: ve.Field, Message: ve.Message})
	case errors.Is(err, wallet.ErrNotFound):
		return rpcerr.New(codes.NotFound, rpcerr.NotFound, "not found")
	case errors.Is(err, wallet.ErrInsufficientFunds):
		return rpcerr.New(codes.FailedPrecondition, rpcerr.InsufficientFunds, "the available balance does not cover this amount")
	case errors.Is(err, wallet.ErrIdempotencyKeyReused):
		return rpcerr.New(codes.FailedPrecondition, rpcerr.IdempotencyKeyReused, "this Idempotency-Key was already used with a different request")
	case errors.Is(err, wallet.ErrRequestInProgress):
		return rpcerr.New(codes.Aborted, rpcerr.RequestInProgress, "a request with this Idempotency-Key is still being processed; retry later")
	case errors.Is(err, wallet.ErrHoldConflict):
		return rpcerr.New(codes.FailedPrecondition, rpcerr.Conflict, "the hold is already settled the other way")
	case errors.Is(err, wallet.ErrInvalidSignature):
		return rpcerr.New(codes.InvalidArgument, rpcerr.InvalidSignature, "the Stripe-Signature header does not verify")
	case errors.Is(err, wallet.ErrMalformedEvent):
		return rpcerr.Validation("the Stripe event lacks a field it needs", rpcerr.FieldViolation{Field: "payload", Message: "missing required Stripe fields"})
	case errors.Is(err, wallet.ErrEventNotMatchedYet):
		return rpcerr.New(codes.Unavailable, rpcerr.ServiceUnavailable, "the event's PaymentIntent cannot be matched to a top-up yet; deliver it again later")
	case errors.Is(err, wallet.ErrPaymentProvider):
		return rpcerr.New(codes.Unavailable, rpcerr.PaymentProviderError, "the payment provider could not create a checkout session; try again shortly")
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "request canceled")
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "deadline exceeded")
	case database.Unreachable(err):
		return rpcerr.New(codes.Unavailable, rpcerr.ServiceUnavailable, "the wallet's database is unreachable; try again shortly (with the same Idempotency-Key)")
	}
	return rpcerr.New(codes.Internal, rpcerr.Internal, "internal error")
}
