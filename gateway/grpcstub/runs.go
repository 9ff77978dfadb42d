package grpcstub

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/meterflow/meterflow/platform/rpcerr"
	workflowv1 "github.com/meterflow/meterflow/proto/gen/meterflow/workflow/v1"
)

// Runs is a workflow service whose AdminListRuns serves N runs, newest
// first, as the real one pages them (limit 1-200, an opaque cursor: here
// the offset). Run i is "run-%06d" and its input JSON is InputBytes(i)
// bytes long, so that tests can make pages as large as they need. A page
// that starts at FailAt or later (when FailAt > 0) fails as a service that
// went down, for tests of a failure midway.
type Runs struct {
	workflowv1.UnimplementedWorkflowServiceServer
	N          int
	InputBytes func(i int) int
	FailAt     int

	mu     sync.Mutex
	limits []int32
}

// AdminListRuns answers one page.
func (r *Runs) AdminListRuns(_ context.Context, req *workflowv1.AdminListRunsRequest) (*workflowv1.AdminListRunsResponse, error) {
	r.mu.Lock()
	r.limits = append(r.limits, req.GetLimit())
	r.mu.Unlock()
	limit := int(req.GetLimit())
	if limit < 1 || limit > 200 {
		return nil, rpcerr.Validation("bad limit", rpcerr.FieldViolation{Field: "limit", Message: "must be 1-200"})
	}
	off := 0
	if c := req.GetCursor(); c != "" {
		var err error
		if off, err = strconv.Atoi(c); err != nil {
			return nil, rpcerr.Validation("bad cursor", rpcerr.FieldViolation{Field: "cursor", Message: "invalid"})
		}
	}
	if r.FailAt > 0 && off >= r.FailAt {
		return nil, status.Error(codes.Unavailable, "the workflow service went away")
	}
	resp := &workflowv1.AdminListRunsResponse{}
	for i := off; i < min(off+limit, r.N); i++ {
		resp.Runs = append(resp.Runs, &workflowv1.Run{
			Id: RunID(i), UserId: "u1", Workflow: "echo", Status: "failed", FeeCents: 10,
			InputJson: input(r.InputBytes(i)), CreatedAt: timestamppb.New(time.Unix(1_700_000_000-int64(i), 0)),
		})
	}
	if off+limit < r.N {
		resp.NextCursor = strconv.Itoa(off + limit)
	}
	return resp, nil
}

// Limits returns the page sizes asked for so far, in order.
func (r *Runs) Limits() []int32 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int32(nil), r.limits...)
}

// RunID is the id of run i.
func RunID(i int) string { return fmt.Sprintf("run-%06d", i) }

// input is a JSON object of n bytes (at least 10).
func input(n int) []byte {
	const frame = len(`{"pad":""}`)
	return []byte(`{"pad":"` + strings.Repeat("x", max(0, n-frame)) + `"}`)
}
