package grpcapi

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/meterflow/meterflow/platform/idempotency"
	"github.com/meterflow/meterflow/platform/paging"
	"github.com/meterflow/meterflow/platform/rpcerr"
	"github.com/meterflow/meterflow/platform/validation"
	"github.com/meterflow/meterflow/services/workflow/internal/workflow"
)

func TestToStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err    error
		code   codes.Code
		reason string
	}{
		{validation.Field("input", "x"), codes.InvalidArgument, rpcerr.ValidationFailed},
		{workflow.ErrWorkflowNotFound, codes.NotFound, rpcerr.WorkflowNotFound},
		{fmt.Errorf("get: %w", workflow.ErrRunNotFound), codes.NotFound, rpcerr.NotFound},
		{workflow.ErrSlugTaken, codes.AlreadyExists, rpcerr.SlugTaken},
		{workflow.ErrInsufficientFunds, codes.FailedPrecondition, rpcerr.InsufficientFunds},
		{idempotency.ErrKeyReused, codes.FailedPrecondition, rpcerr.IdempotencyKeyReused},
		{idempotency.ErrInProgress, codes.Aborted, rpcerr.RequestInProgress},
		{fmt.Errorf("%w: down", workflow.ErrWalletUnavailable), codes.Unavailable, rpcerr.ServiceUnavailable},
		{context.Canceled, codes.Canceled, ""},
		{fmt.Errorf("boom"), codes.Internal, rpcerr.Internal},
	}
	for _, tt := range tests {
		err := toStatus(tt.err)
		if status.Code(err) != tt.code || rpcerr.Reason(err) != tt.reason {
			t.Errorf("toStatus(%v) = %v (%s), want %v %s", tt.err, status.Code(err), rpcerr.Reason(err), tt.code, tt.reason)
		}
	}
	if f := rpcerr.Fields(toStatus(validation.Field("input", "x"))); len(f) != 1 || f[0].Field != "input" {
		t.Errorf("fields = %v", f)
	}
}

func TestCursorRoundTrip(t *testing.T) {
	t.Parallel()
	if _, err := paging.ParseCursor("garbage!"); status.Code(toStatus(err)) != codes.InvalidArgument {
		t.Fatalf("bad cursor: %v", err)
	}
	c, err := paging.ParseCursor("")
	if !c.IsZero() || err != nil {
		t.Fatalf("empty cursor = %v, %v", c, err)
	}
}

// TestInternalErrorsKeepTheirCause: an unexpected error reaches the
// server's interceptor with its cause, which it logs once with the trace
// id; the caller sees only "internal error".
func TestInternalErrorsKeepTheirCause(t *testing.T) {
	t.Parallel()
	cause := fmt.Errorf("get run: %w", errors.New("conn reset by peer"))
	err := toStatus(cause)
	if rpcerr.Cause(err) != cause {
		t.Fatalf("cause = %v, want %v", rpcerr.Cause(err), cause)
	}
	if st, _ := status.FromError(err); st.Code() != codes.Internal || st.Message() != "internal error" {
		t.Fatalf("status = %v %q", st.Code(), st.Message())
	}
}
