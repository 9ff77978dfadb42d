package sizedpages_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/meterflow/meterflow/gateway/grpcstub"
	"github.com/meterflow/meterflow/gateway/internal/sizedpages"
	"github.com/meterflow/meterflow/platform/grpcservice"
	"github.com/meterflow/meterflow/platform/rpcerr"
	workflowv1 "github.com/meterflow/meterflow/proto/gen/meterflow/workflow/v1"
)

const kib = 1 << 10

func runsPager(client workflowv1.WorkflowServiceClient) *sizedpages.Pager[*workflowv1.Run] {
	return sizedpages.New(func(ctx context.Context, cursor string, limit int32) ([]*workflowv1.Run, string, error) {
		r, err := client.AdminListRuns(ctx, &workflowv1.AdminListRunsRequest{Cursor: cursor, Limit: limit})
		return r.GetRuns(), r.GetNextCursor(), err
	})
}

func serveRuns(t *testing.T, runs *grpcstub.Runs) workflowv1.WorkflowServiceClient {
	conn := grpcstub.Start(t, func(s *grpc.Server) { workflowv1.RegisterWorkflowServiceServer(s, runs) })
	return workflowv1.NewWorkflowServiceClient(conn)
}

// TestWalkLargeRows walks 800 runs of which 100 are 200 KiB each: a fixed
// page of 200 (the exports' old page) is refused by gRPC, the pager reads
// every row once, in order, and goes back to full pages after them.
func TestWalkLargeRows(t *testing.T) {
	t.Parallel()
	runs := &grpcstub.Runs{N: 800, InputBytes: func(i int) int {
		switch {
		case i == 160:
			return 3 * grpcservice.MaxMessageBytes / 4 // one row alone near the cap
		case i >= 50 && i < 150:
			return 200 * kib
		}
		return 100
	}}
	client := serveRuns(t, runs)
	ctx := context.Background()

	_, err := client.AdminListRuns(ctx, &workflowv1.AdminListRunsRequest{Limit: 200})
	if status.Code(err) != codes.ResourceExhausted || !sizedpages.TooLarge(err) {
		t.Fatalf("a fixed page of 200 should exceed the cap, got %v", err)
	}

	p := runsPager(client)
	var got []string
	cursor, pages := "", 0
	for {
		items, next, err := p.Next(ctx, cursor, 0)
		if err != nil {
			t.Fatalf("page %d after %d rows: %v", pages, len(got), err)
		}
		pages++
		for _, r := range items {
			got = append(got, r.GetId())
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if len(got) != 800 {
		t.Fatalf("%d rows, want 800", len(got))
	}
	for i, id := range got {
		if id != grpcstub.RunID(i) {
			t.Fatalf("row %d is %s", i, id)
		}
	}
	limits := runs.Limits()
	if last := limits[len(limits)-1]; last != sizedpages.MaxRows {
		t.Errorf("the last page asked for %d rows; small rows should bring full pages back (limits %v)", last, limits)
	}
	// Each refusal halves the page, and measured pages are rarely refused.
	if len(limits) > 40 {
		t.Errorf("%d requests for %d pages: %v", len(limits), pages, limits)
	}
}

// TestWalkBoundsAndErrors: want bounds the page; a row alone over the cap
// and any other error end the walk with the error; our own throttle is
// not taken for a size refusal.
func TestWalkBoundsAndErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	small := &grpcstub.Runs{N: 50, InputBytes: func(int) int { return 100 }}
	items, next, err := runsPager(serveRuns(t, small)).Next(ctx, "", 7)
	if err != nil || len(items) != 7 || next != "7" {
		t.Fatalf("want 7: %d rows, next %q, %v", len(items), next, err)
	}

	huge := &grpcstub.Runs{N: 3, InputBytes: func(int) int { return grpcservice.MaxMessageBytes + kib }}
	_, _, err = runsPager(serveRuns(t, huge)).Next(ctx, "", 0)
	if !sizedpages.TooLarge(err) {
		t.Fatalf("a single row over the cap: %v", err)
	}
	if l := huge.Limits(); l[len(l)-1] != 1 {
		t.Fatalf("gave up before a page of one row: %v", l)
	}

	for _, tt := range []struct {
		name string
		err  error
	}{
		{"throttled", rpcerr.Throttled("slow down", time.Second)},
		{"unavailable", status.Error(codes.Unavailable, "down")},
	} {
		calls := 0
		p := sizedpages.New(func(context.Context, string, int32) ([]*workflowv1.Run, string, error) {
			calls++
			return nil, "", tt.err
		})
		if _, _, err := p.Next(ctx, "", 0); !errors.Is(err, tt.err) || calls != 1 {
			t.Errorf("%s: %d calls, %v", tt.name, calls, err)
		}
	}
}

func TestTooLarge(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"received over the cap", status.Error(codes.ResourceExhausted, "grpc: received message larger than max (5 vs. 4)"), true},
		{"sent over the cap", status.Error(codes.ResourceExhausted, "grpc: trying to send message larger than max"), true},
		{"our throttle", rpcerr.Throttled("slow down", time.Second), false},
		{"other code", status.Error(codes.Internal, "x"), false},
		{"nil", nil, false},
	}
	for _, tt := range tests {
		if got := sizedpages.TooLarge(tt.err); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}
