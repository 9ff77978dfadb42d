package grpcapi

import (
	"context"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/meterflow/meterflow/platform/validation"
	workflowv1 "github.com/meterflow/meterflow/proto/gen/meterflow/workflow/v1"
	"github.com/meterflow/meterflow/services/workflow/internal/workflow"
)

// AdminGetRunStats implements workflowv1.WorkflowServiceServer.
func (s *Server) AdminGetRunStats(ctx context.Context, req *workflowv1.AdminGetRunStatsRequest) (*workflowv1.AdminGetRunStatsResponse, error) {
	sr := workflow.StatsRequest{TopFailing: int(req.GetTopFailing()), ByHour: req.GetByHour(), Busiest: int(req.GetBusiest())}
	if req.Since != nil {
		if err := req.GetSince().CheckValid(); err != nil {
			return nil, toStatus(validation.Field("since", "must be a valid timestamp"))
		}
		sr.Since = req.GetSince().AsTime()
		if sr.Since.IsZero() {
			// 0001-01-01T00:00:00Z is a valid Timestamp and Go's zero time:
			// it must be refused as too old, not read as "unset".
			sr.Since = sr.Since.Add(-time.Nanosecond)
		}
	}
	st, err := s.Service.RunStats(ctx, sr)
	if err != nil {
		return nil, toStatus(err)
	}
	out := &workflowv1.AdminGetRunStatsResponse{
		ByStatus:   make([]*workflowv1.RunStatusCount, len(st.ByStatus)),
		TopFailing: make([]*workflowv1.WorkflowFailures, len(st.TopFailing)),
		ByHour:     make([]*workflowv1.RunHour, len(st.ByHour)),
		Busiest:    make([]*workflowv1.WorkflowRuns, len(st.Busiest)),
	}
	for i, c := range st.ByStatus {
		out.ByStatus[i] = &workflowv1.RunStatusCount{Status: string(c.Status), Count: c.Count}
	}
	for i, f := range st.TopFailing {
		out.TopFailing[i] = &workflowv1.WorkflowFailures{Workflow: f.Workflow, Failed: f.Failed, Total: f.Total}
	}
	for i, h := range st.ByHour {
		out.ByHour[i] = &workflowv1.RunHour{Hour: timestamppb.New(h.Hour), Runs: countsPB(h.Runs)}
	}
	for i, b := range st.Busiest {
		out.Busiest[i] = &workflowv1.WorkflowRuns{Workflow: b.Workflow, Total: b.Total, Runs: countsPB(b.Runs)}
	}
	return out, nil
}

// GetRunStats implements workflowv1.WorkflowServiceServer: the caller's
// own runs only.
func (s *Server) GetRunStats(ctx context.Context, req *workflowv1.GetRunStatsRequest) (*workflowv1.GetRunStatsResponse, error) {
	uid, err := user(ctx)
	if err != nil {
		return nil, err
	}
	days, err := s.Service.UserRunStats(ctx, uid, int(req.GetDays()))
	if err != nil {
		return nil, toStatus(err)
	}
	out := &workflowv1.GetRunStatsResponse{ByDay: make([]*workflowv1.RunDay, len(days))}
	var total workflow.Counts
	for i, d := range days {
		out.ByDay[i] = &workflowv1.RunDay{Date: d.Day.Format(time.DateOnly), Runs: countsPB(d.Runs)}
		total = total.Add(d.Runs)
	}
	out.Total = countsPB(total)
	return out, nil
}

func countsPB(c workflow.Counts) *workflowv1.RunCounts {
	return &workflowv1.RunCounts{Queued: c.Queued, Running: c.Running, Succeeded: c.Succeeded, Failed: c.Failed}
}
