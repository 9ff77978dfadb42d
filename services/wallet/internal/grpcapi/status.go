package grpcapi

import (
	"errors"

	"google.golang.org/grpc/codes"

	"github.com/meterflow/meterflow/platform/rpcerr"
	"github.com/meterflow/meterflow/services/wallet/internal/wallet"
)

// unreachableMsg is what callers read when the wallet's database is down:
// every money call is safe to repeat with the same key.
const unreachableMsg = "the wallet's database is unreachable; try again shortly (with the same Idempotency-Key)"

// toStatus maps an error to the gRPC status callers see, once: the
// wallet's own sentinels here, then what every service maps alike
// (rpcerr.FromError: validation, idempotency, cancellation, an unreachable
// database). Anything else is Internal without detail, carrying its cause
// for the one log line; a failed commit therefore answers 5xx and Stripe
// retries its webhook.
func toStatus(err error) error {
	switch {
	case errors.Is(err, wallet.ErrNotFound):
		return rpcerr.New(codes.NotFound, rpcerr.NotFound, "not found")
	case errors.Is(err, wallet.ErrInsufficientFunds):
		return rpcerr.New(codes.FailedPrecondition, rpcerr.InsufficientFunds, "the available balance does not cover this amount")
	case errors.Is(err, wallet.ErrSpendLimitExceeded):
		return rpcerr.New(codes.FailedPrecondition, rpcerr.SpendLimitExceeded, "the fee would take the API key's spend this month over its monthly limit")
	case errors.Is(err, wallet.ErrHoldConflict):
		return rpcerr.New(codes.FailedPrecondition, rpcerr.Conflict, "the hold is already settled the other way")
	case errors.Is(err, wallet.ErrInvalidSignature):
		return rpcerr.New(codes.InvalidArgument, rpcerr.InvalidSignature, "the Stripe-Signature header does not verify")
	case errors.Is(err, wallet.ErrMalformedEvent):
		return rpcerr.Validation("the Stripe event lacks a field it needs", rpcerr.FieldViolation{Field: "payload", Message: "missing required Stripe fields"})
	case errors.Is(err, wallet.ErrEventNotMatchedYet):
		return rpcerr.New(codes.Unavailable, rpcerr.ServiceUnavailable, "the event's PaymentIntent cannot be matched to a top-up yet; deliver it again later")
	case errors.Is(err, wallet.ErrNoPaymentMethod):
		return rpcerr.New(codes.FailedPrecondition, rpcerr.NoPaymentMethod, "auto top-up needs a saved card: add one with POST /v1/wallet/payment-method first")
	case errors.Is(err, wallet.ErrPaymentProvider):
		return rpcerr.New(codes.Unavailable, rpcerr.PaymentProviderError, "the payment provider could not create a checkout session; try again shortly")
	}
	return rpcerr.FromError(err, unreachableMsg)
}
