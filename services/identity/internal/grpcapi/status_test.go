package grpcapi

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/meterflow/meterflow/platform/rpcerr"
	"github.com/meterflow/meterflow/platform/validation"
	"github.com/meterflow/meterflow/services/identity/internal/identity"
)

func TestToStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err    error
		code   codes.Code
		reason string
	}{
		{&validation.Error{Fields: []validation.FieldError{{Field: "email", Message: "bad"}}}, codes.InvalidArgument, rpcerr.ValidationFailed},
		{&identity.ThrottledError{RetryAfter: time.Second}, codes.ResourceExhausted, rpcerr.RateLimited},
		{fmt.Errorf("sign up: %w", identity.ErrEmailTaken), codes.AlreadyExists, rpcerr.EmailTaken},
		{identity.ErrInvalidCredentials, codes.Unauthenticated, rpcerr.InvalidCredentials},
		{identity.ErrInvalidToken, codes.Unauthenticated, rpcerr.InvalidToken},
		{identity.ErrTokenReused, codes.Unauthenticated, rpcerr.InvalidToken},
		{identity.ErrUnauthorized, codes.Unauthenticated, rpcerr.Unauthorized},
		{identity.ErrNotFound, codes.NotFound, rpcerr.NotFound},
		{identity.ErrForbidden, codes.PermissionDenied, rpcerr.Forbidden},
		{identity.ErrSelfChange, codes.FailedPrecondition, rpcerr.Conflict},
		{fmt.Errorf("login: %w", identity.ErrBusy), codes.Unavailable, rpcerr.ServiceUnavailable},
		{fmt.Errorf("x: %w", context.Canceled), codes.Canceled, ""},
		{context.DeadlineExceeded, codes.DeadlineExceeded, ""},
		{errors.New("connection refused"), codes.Internal, rpcerr.Internal},
	}
	for _, tt := range tests {
		got := toStatus(tt.err)
		if status.Code(got) != tt.code || rpcerr.Reason(got) != tt.reason {
			t.Errorf("toStatus(%v) = %s/%q, want %s/%q", tt.err, status.Code(got), rpcerr.Reason(got), tt.code, tt.reason)
		}
	}
	if fields := rpcerr.Fields(toStatus(tests[0].err)); len(fields) != 1 || fields[0].Field != "email" {
		t.Errorf("field violations = %v", fields)
	}
	if d, ok := rpcerr.RetryAfter(toStatus(tests[1].err)); !ok || d != time.Second {
		t.Errorf("retry after = %s, %v", d, ok)
	}
}
