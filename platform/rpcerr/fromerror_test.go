package rpcerr_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/meterflow/meterflow/platform/idempotency"
	"github.com/meterflow/meterflow/platform/rpcerr"
	"github.com/meterflow/meterflow/platform/validation"
)

func TestFromError(t *testing.T) {
	t.Parallel()
	secret := errors.New(`pq: duplicate key value violates "users_email" (ada@example.com)`)
	tests := []struct {
		name   string
		err    error
		code   codes.Code
		reason string
	}{
		{"validation", fmt.Errorf("sign up: %w", validation.Field("email", "is not an email address")), codes.InvalidArgument, rpcerr.ValidationFailed},
		{"key reused", idempotency.ErrKeyReused, codes.FailedPrecondition, rpcerr.IdempotencyKeyReused},
		{"in progress", fmt.Errorf("adjust: %w", idempotency.ErrInProgress), codes.Aborted, rpcerr.RequestInProgress},
		{"canceled", context.Canceled, codes.Canceled, ""},
		{"deadline", context.DeadlineExceeded, codes.DeadlineExceeded, ""},
		{"database gone", fmt.Errorf("query: %w", io.ErrUnexpectedEOF), codes.Unavailable, rpcerr.ServiceUnavailable},
		{"anything else", secret, codes.Internal, rpcerr.Internal},
	}
	for _, tc := range tests {
		err := rpcerr.FromError(tc.err, "the test database is unreachable")
		st, _ := status.FromError(err)
		if st.Code() != tc.code || rpcerr.Reason(err) != tc.reason {
			t.Errorf("%s: %v (%s), want %v (%s)", tc.name, st.Code(), rpcerr.Reason(err), tc.code, tc.reason)
		}
	}
	// The cause of an internal error stays for the log and never reaches the wire.
	err := rpcerr.FromError(secret, "")
	if st, _ := status.FromError(err); st.Message() != "internal error" {
		t.Fatalf("message sent = %q", st.Message())
	}
	if !errors.Is(rpcerr.Cause(err), secret) {
		t.Fatalf("Cause = %v", rpcerr.Cause(err))
	}
	if got := rpcerr.Fields(rpcerr.FromError(validation.Field("limit", "too big"), "")); len(got) != 1 || got[0].Field != "limit" {
		t.Fatalf("fields = %+v", got)
	}
}
