package rpcerr_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/meterflow/meterflow/platform/rpcerr"
)

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		err    error
		code   codes.Code
		reason string
	}{
		{"new", rpcerr.New(codes.FailedPrecondition, rpcerr.InsufficientFunds, "low"), codes.FailedPrecondition, rpcerr.InsufficientFunds},
		{"wrapped", fmt.Errorf("ctx: %w", rpcerr.New(codes.NotFound, rpcerr.NotFound, "x")), codes.NotFound, rpcerr.NotFound},
		{"validation", rpcerr.Validation("bad", rpcerr.FieldViolation{Field: "email", Message: "invalid"}), codes.InvalidArgument, rpcerr.ValidationFailed},
		{"throttled", rpcerr.Throttled("slow down", 3*time.Second), codes.ResourceExhausted, rpcerr.RateLimited},
		{"plain status", status.Error(codes.Unavailable, "down"), codes.Unavailable, ""},
		{"plain error", errors.New("boom"), codes.Unknown, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := rpcerr.Reason(tc.err); got != tc.reason {
				t.Errorf("Reason = %q, want %q", got, tc.reason)
			}
			if got := status.Code(errors.Unwrap(tc.err)); tc.name == "wrapped" && got != tc.code {
				t.Errorf("Code = %v, want %v", got, tc.code)
			}
		})
	}
	f := rpcerr.Fields(rpcerr.Validation("bad", rpcerr.FieldViolation{Field: "email", Message: "invalid"}))
	if len(f) != 1 || f[0].Field != "email" || f[0].Message != "invalid" {
		t.Errorf("Fields = %+v", f)
	}
	if d, ok := rpcerr.RetryAfter(rpcerr.Throttled("x", 3*time.Second)); !ok || d != 3*time.Second {
		t.Errorf("RetryAfter = %v, %v", d, ok)
	}
}
