package console

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/meterflow/meterflow/gateway/internal/problem"
	"github.com/meterflow/meterflow/gateway/internal/rpcclient"
	"github.com/meterflow/meterflow/platform/rpcerr"
)

// TestFriendlyStatus: the console words errors its own way, but its status
// must agree with the API's table (internal/problem) on the rows where a
// wrong class misleads the operator: only our throttle is a 429, gRPC's
// message-size cap is a 500.
func TestFriendlyStatus(t *testing.T) {
	t.Parallel()
	sizeCap := status.Error(codes.ResourceExhausted, "grpc: received message larger than max (5242880 vs. 4194304)")
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"throttled", rpcerr.Throttled("slow down", 3*time.Second), 429},
		{"rate limited without RetryInfo", rpcerr.New(codes.ResourceExhausted, rpcerr.RateLimited, "x"), 429},
		{"received message over the size cap", sizeCap, 500},
		{"sent message over the size cap", status.Error(codes.ResourceExhausted, "grpc: trying to send message larger than max"), 500},
		{"size cap through a call error", &rpcclient.CallError{Method: "/meterflow.workflow.v1.WorkflowService/AdminListRuns", Err: sizeCap}, 500},
		{"another reason", rpcerr.New(codes.ResourceExhausted, "quota", "x"), 500},
		{"not found", rpcerr.New(codes.NotFound, rpcerr.NotFound, "x"), 404},
		{"validation", rpcerr.Validation("bad"), 400},
		{"internal", status.Error(codes.Internal, "boom"), 500},
		{"service down", status.Error(codes.Unavailable, "down"), 503},
		{"plain error", errors.New("template"), 500},
		{"context deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), 504},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := friendly(tt.err)
			if got.Status != tt.want {
				t.Fatalf("status %d (%s), want %d", got.Status, got.Title, tt.want)
			}
			if code := status.Code(tt.err); code == codes.ResourceExhausted {
				if api := problem.FromGRPC(tt.err, nil).Status; api != got.Status {
					t.Fatalf("console %d, API %d: the two mappings disagree", got.Status, api)
				}
			}
		})
	}
}
