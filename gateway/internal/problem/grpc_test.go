package problem

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/meterflow/meterflow/gateway/internal/rpcclient"
	"github.com/meterflow/meterflow/platform/rpcerr"
)

func TestFromGRPCTable(t *testing.T) {
	t.Parallel()
	adjust := Override{rpcerr.InsufficientFunds: {http.StatusUnprocessableEntity, rpcerr.InsufficientFunds}}
	tests := []struct {
		name       string
		err        error
		override   Override
		wantStatus int
		wantCode   string
	}{
		{"validation", rpcerr.Validation("bad", rpcerr.FieldViolation{Field: "email", Message: "invalid"}), nil, 400, "validation_failed"},
		{"invalid argument without reason", status.Error(codes.InvalidArgument, "x"), nil, 400, "validation_failed"},
		{"invalid signature", rpcerr.New(codes.InvalidArgument, rpcerr.InvalidSignature, "sig"), nil, 400, "invalid_signature"},
		{"invalid credentials", rpcerr.New(codes.Unauthenticated, rpcerr.InvalidCredentials, "x"), nil, 401, "invalid_credentials"},
		{"invalid token", rpcerr.New(codes.Unauthenticated, rpcerr.InvalidToken, "x"), nil, 401, "invalid_token"},
		{"unauthenticated", rpcerr.New(codes.Unauthenticated, rpcerr.Unauthorized, "x"), nil, 401, "unauthorized"},
		{"unauthenticated bare", status.Error(codes.Unauthenticated, "x"), nil, 401, "unauthorized"},
		{"forbidden", rpcerr.New(codes.PermissionDenied, rpcerr.Forbidden, "x"), nil, 403, "forbidden"},
		{"not found", rpcerr.New(codes.NotFound, rpcerr.NotFound, "x"), nil, 404, "not_found"},
		{"workflow not found", rpcerr.New(codes.NotFound, rpcerr.WorkflowNotFound, "x"), nil, 404, "workflow_not_found"},
		{"email taken", rpcerr.New(codes.AlreadyExists, rpcerr.EmailTaken, "x"), nil, 409, "email_taken"},
		{"slug taken", rpcerr.New(codes.AlreadyExists, rpcerr.SlugTaken, "x"), nil, 409, "slug_taken"},
		{"insufficient funds", rpcerr.New(codes.FailedPrecondition, rpcerr.InsufficientFunds, "x"), nil, 402, "insufficient_funds"},
		{"insufficient funds on adjustment", rpcerr.New(codes.FailedPrecondition, rpcerr.InsufficientFunds, "x"), adjust, 422, "insufficient_funds"},
		{"override leaves others alone", rpcerr.New(codes.NotFound, rpcerr.NotFound, "x"), adjust, 404, "not_found"},
		{"idempotency key reused", rpcerr.New(codes.FailedPrecondition, rpcerr.IdempotencyKeyReused, "x"), nil, 422, "idempotency_key_reused"},
		{"request in progress", rpcerr.New(codes.Aborted, rpcerr.RequestInProgress, "x"), nil, 409, "request_in_progress"},
		{"rate limited", rpcerr.Throttled("slow down", 3*time.Second), nil, 429, "rate_limited"},
		{"rate limited without RetryInfo", rpcerr.New(codes.ResourceExhausted, rpcerr.RateLimited, "x"), nil, 429, "rate_limited"},
		// gRPC's own message-size cap is not the caller's rate limit.
		{"received message over the size cap", status.Error(codes.ResourceExhausted, "grpc: received message larger than max (5242880 vs. 4194304)"), nil, 500, "internal"},
		{"sent message over the size cap", status.Error(codes.ResourceExhausted, "grpc: trying to send message larger than max (5242880 vs. 4194304)"), nil, 500, "internal"},
		{"size cap through a call error", &rpcclient.CallError{Method: "/meterflow.workflow.v1.WorkflowService/AdminListRuns", Err: status.Error(codes.ResourceExhausted, "grpc: received message larger than max")}, nil, 500, "internal"},
		{"resource exhausted with another reason", rpcerr.New(codes.ResourceExhausted, "quota", "x"), nil, 500, "internal"},
		{"throttle through a call error", &rpcclient.CallError{Method: "/m", Err: rpcerr.Throttled("slow down", time.Second)}, nil, 429, "rate_limited"},
		{"payment provider", rpcerr.New(codes.Unavailable, rpcerr.PaymentProviderError, "stripe down"), nil, 502, "payment_provider_error"},
		{"workflow failed", rpcerr.New(codes.Aborted, rpcerr.WorkflowFailed, "x"), nil, 502, "workflow_failed"},
		{"service down", status.Error(codes.Unavailable, "connection refused"), nil, 503, "service_unavailable"},
		{"deadline", status.Error(codes.DeadlineExceeded, "slow"), nil, 504, "timeout"},
		{"internal", status.Error(codes.Internal, "pq: relation users does not exist"), nil, 500, "internal"},
		{"unknown", status.Error(codes.Unknown, "boom"), nil, 500, "internal"},
		{"unimplemented", status.Error(codes.Unimplemented, "no"), nil, 500, "internal"},
		{"data loss", status.Error(codes.DataLoss, "no"), nil, 500, "internal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := FromGRPC(tt.err, tt.override)
			if p.Status != tt.wantStatus || p.Code != tt.wantCode {
				t.Fatalf("got %d %s, want %d %s", p.Status, p.Code, tt.wantStatus, tt.wantCode)
			}
			if p.Type != TypeBase+tt.wantCode || p.Title == "" {
				t.Errorf("type %q title %q", p.Type, p.Title)
			}
			if p.Status >= 500 && strings.Contains(p.Detail, status.Convert(tt.err).Message()) {
				t.Errorf("5xx detail leaks the service message: %q", p.Detail)
			}
		})
	}
}

func TestFromGRPCDetails(t *testing.T) {
	t.Parallel()
	p := FromGRPC(rpcerr.Validation("bad input",
		rpcerr.FieldViolation{Field: "email", Message: "not an email"},
		rpcerr.FieldViolation{Field: "password", Message: "too short"}), nil)
	if len(p.Errors) != 2 || p.Errors[0].Field != "email" || p.Errors[1].Message != "too short" {
		t.Fatalf("errors = %+v", p.Errors)
	}
	if p.Detail != "bad input" {
		t.Errorf("detail = %q", p.Detail)
	}
	r := FromGRPC(rpcerr.Throttled("x", 2500*time.Millisecond), nil)
	if got := r.RetryAfterSeconds(); got != "3" {
		t.Errorf("Retry-After = %s, want 3 (rounded up)", got)
	}
	if got := FromGRPC(rpcerr.New(codes.ResourceExhausted, rpcerr.RateLimited, "x"), nil).RetryAfterSeconds(); got != "1" {
		t.Errorf("Retry-After without RetryInfo = %s, want 1", got)
	}
	if p := FromGRPC(status.Error(codes.ResourceExhausted, "grpc: received message larger than max"), nil); p.RetryAfter != 0 {
		t.Errorf("a message-size failure carries a retry delay %v", p.RetryAfter)
	}
	if IsStatus(errors.New("plain")) {
		t.Error("a plain error is not a status")
	}
}

// TestFromError: every error a handler of the API or the console returns
// gets its status from the one table; errors that are not service errors
// map as the gRPC codes of the same meaning, or to a 500 that says nothing.
// The console's pages used a mapping of their own that answered a
// DeadlineExceeded with 503 where the API answered 504.
func TestFromError(t *testing.T) {
	t.Parallel()
	made := New(http.StatusForbidden, rpcerr.Forbidden, "made here")
	tests := []struct {
		name       string
		err        error
		wantStatus int
		wantCode   string
	}{
		{"a problem as it is", fmt.Errorf("wrapped: %w", made), 403, "forbidden"},
		{"deadline from a service", status.Error(codes.DeadlineExceeded, "slow"), 504, "timeout"},
		{"deadline through a call error", &rpcclient.CallError{Method: "/m", Err: status.Error(codes.DeadlineExceeded, "slow")}, 504, "timeout"},
		{"context deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), 504, "timeout"},
		{"context canceled", fmt.Errorf("x: %w", context.Canceled), 503, "service_unavailable"},
		{"service down", status.Error(codes.Unavailable, "down"), 503, "service_unavailable"},
		{"throttled", rpcerr.Throttled("slow down", 3*time.Second), 429, "rate_limited"},
		{"size cap", status.Error(codes.ResourceExhausted, "grpc: received message larger than max (5242880 vs. 4194304)"), 500, "internal"},
		{"sent message over the size cap", status.Error(codes.ResourceExhausted, "grpc: trying to send message larger than max"), 500, "internal"},
		{"size cap through a call error", &rpcclient.CallError{Method: "/meterflow.workflow.v1.WorkflowService/AdminListRuns", Err: status.Error(codes.ResourceExhausted, "grpc: received message larger than max")}, 500, "internal"},
		{"resource exhausted with another reason", rpcerr.New(codes.ResourceExhausted, "quota", "x"), 500, "internal"},
		{"rate limited without RetryInfo", rpcerr.New(codes.ResourceExhausted, rpcerr.RateLimited, "x"), 429, "rate_limited"},
		{"internal", status.Error(codes.Internal, "boom"), 500, "internal"},
		{"not found", rpcerr.New(codes.NotFound, rpcerr.NotFound, "x"), 404, "not_found"},
		{"validation", rpcerr.Validation("bad"), 400, "validation_failed"},
		{"unimplemented", status.Error(codes.Unimplemented, "no"), 500, "internal"},
		{"plain error", errors.New("template: no such field"), 500, "internal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := FromError(tt.err)
			if p.Status != tt.wantStatus || p.Code != tt.wantCode {
				t.Fatalf("got %d %s, want %d %s", p.Status, p.Code, tt.wantStatus, tt.wantCode)
			}
			if p.Status >= 500 && (p.Detail == "" || strings.Contains(p.Detail, tt.err.Error())) {
				t.Errorf("5xx detail %q: empty, or leaks the error", p.Detail)
			}
		})
	}
	if got := FromError(made); got != made {
		t.Error("a problem was copied instead of returned")
	}
}
