package grpcapi

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/meterflow/meterflow/platform/idempotency"
	"github.com/meterflow/meterflow/platform/rpcerr"
	"github.com/meterflow/meterflow/platform/validation"
	"github.com/meterflow/meterflow/services/wallet/internal/wallet"
)

func TestToStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err    error
		code   codes.Code
		reason string
	}{
		{validation.Field("amount_cents", "too small"), codes.InvalidArgument, rpcerr.ValidationFailed},
		{fmt.Errorf("get top-up: %w", wallet.ErrNotFound), codes.NotFound, rpcerr.NotFound},
		{fmt.Errorf("reserve: %w", wallet.ErrInsufficientFunds), codes.FailedPrecondition, rpcerr.InsufficientFunds},
		{fmt.Errorf("reserve: %w", idempotency.ErrKeyReused), codes.FailedPrecondition, rpcerr.IdempotencyKeyReused},
		{idempotency.ErrInProgress, codes.Aborted, rpcerr.RequestInProgress},
		{wallet.ErrHoldConflict, codes.FailedPrecondition, rpcerr.Conflict},
		{fmt.Errorf("%w: too old", wallet.ErrInvalidSignature), codes.InvalidArgument, rpcerr.InvalidSignature},
		{wallet.ErrMalformedEvent, codes.InvalidArgument, rpcerr.ValidationFailed},
		{fmt.Errorf("%w: dial tcp: refused", wallet.ErrPaymentProvider), codes.Unavailable, rpcerr.PaymentProviderError},
		{fmt.Errorf("%w: PaymentIntent pi_1: %w", wallet.ErrEventNotMatchedYet, context.DeadlineExceeded), codes.Unavailable, rpcerr.ServiceUnavailable},
		{errors.New("commit: connection reset"), codes.Internal, rpcerr.Internal},
		{context.Canceled, codes.Canceled, ""},
	}
	for _, tc := range tests {
		t.Run(tc.err.Error(), func(t *testing.T) {
			t.Parallel()
			got := toStatus(tc.err)
			if status.Code(got) != tc.code || rpcerr.Reason(got) != tc.reason {
				t.Fatalf("toStatus(%v) = %s %q, want %s %q", tc.err, status.Code(got), rpcerr.Reason(got), tc.code, tc.reason)
			}
		})
	}
	if got := toStatus(errors.New("password=hunter2 host=db")); status.Convert(got).Message() != "internal error" {
		t.Fatalf("internal errors leak their detail: %v", got)
	}
}

// TestInternalErrorKeepsItsCause: an internal error reaches grpcservice's
// interceptor with its cause, which it logs once (the wallet used to log it
// in the handler and hand the interceptor a bare "internal error").
func TestInternalErrorKeepsItsCause(t *testing.T) {
	t.Parallel()
	cause := fmt.Errorf("adjust: %w", errors.New("commit: connection reset"))
	if got := rpcerr.Cause(toStatus(cause)); !errors.Is(got, cause) {
		t.Fatalf("Cause(toStatus(err)) = %v, want %v", got, cause)
	}
	if got := toStatus(nil); got != nil {
		t.Fatalf("toStatus(nil) = %v", got)
	}
}
