package grpcapi

import (
	"context"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/meterflow/meterflow/platform/callauth"
	"github.com/meterflow/meterflow/platform/rpcerr"
	workflowv1 "github.com/meterflow/meterflow/proto/gen/meterflow/workflow/v1"
	"github.com/meterflow/meterflow/services/workflow/internal/workflow"
)

// Server implements workflowv1.WorkflowServiceServer.
type Server struct {
	workflowv1.UnimplementedWorkflowServiceServer
	Service *workflow.Service
}

func user(ctx context.Context) (callauth.Principal, error) {
	p, ok := callauth.UserFrom(ctx)
	if !ok {
		return callauth.Principal{}, rpcerr.New(codes.Unauthenticated, rpcerr.Unauthorized, "missing user")
	}
	return p, nil
}

// ListWorkflows implements workflowv1.WorkflowServiceServer.
func (s *Server) ListWorkflows(ctx context.Context, _ *workflowv1.ListWorkflowsRequest) (*workflowv1.ListWorkflowsResponse, error) {
	ws, err := s.Service.ListWorkflows(ctx, false)
	if err != nil {
		return nil, toStatus(err)
	}
	out := &workflowv1.ListWorkflowsResponse{Workflows: make([]*workflowv1.Workflow, len(ws))}
	for i, w := range ws {
		out.Workflows[i] = &workflowv1.Workflow{Slug: w.Slug, Name: w.Name, Description: w.Description, FeeCents: w.FeeCents}
	}
	return out, nil
}

// StartRun implements workflowv1.WorkflowServiceServer.
func (s *Server) StartRun(ctx context.Context, req *workflowv1.StartRunRequest) (*workflowv1.StartRunResponse, error) {
	p, err := user(ctx)
	if err != nil {
		return nil, err
	}
	r, err := s.Service.StartRun(ctx, p.UserID, workflow.StartRequest{
		Workflow: req.GetWorkflow(), Input: req.GetInputJson(), IdempotencyKey: req.GetIdempotencyKey(), Async: req.GetAsync(),
	})
	if err != nil {
		return nil, toStatus(err)
	}
	return &workflowv1.StartRunResponse{Run: runPB(r.ForUser())}, nil
}

// GetRun implements workflowv1.WorkflowServiceServer.
func (s *Server) GetRun(ctx context.Context, req *workflowv1.GetRunRequest) (*workflowv1.GetRunResponse, error) {
	p, err := user(ctx)
	if err != nil {
		return nil, err
	}
	r, err := s.Service.GetRun(ctx, p.UserID, req.GetId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &workflowv1.GetRunResponse{Run: runPB(r.ForUser())}, nil
}

// ListRuns implements workflowv1.WorkflowServiceServer.
func (s *Server) ListRuns(ctx context.Context, req *workflowv1.ListRunsRequest) (*workflowv1.ListRunsResponse, error) {
	p, err := user(ctx)
	if err != nil {
		return nil, err
	}
	runs, next, err := s.listRuns(ctx, p.UserID, req.GetWorkflow(), req.GetStatus(), req.GetLimit(), req.GetCursor(), workflow.Run.ForUser)
	if err != nil {
		return nil, err
	}
	return &workflowv1.ListRunsResponse{Runs: runs, NextCursor: next}, nil
}

// AdminListRuns implements workflowv1.WorkflowServiceServer.
func (s *Server) AdminListRuns(ctx context.Context, req *workflowv1.AdminListRunsRequest) (*workflowv1.AdminListRunsResponse, error) {
	runs, next, err := s.listRuns(ctx, req.GetUserId(), req.GetWorkflow(), req.GetStatus(), req.GetLimit(), req.GetCursor(), asAdmin)
	if err != nil {
		return nil, err
	}
	return &workflowv1.AdminListRunsResponse{Runs: runs, NextCursor: next}, nil
}

// asAdmin is the run as admins see it: whole.
func asAdmin(r workflow.Run) workflow.Run { return r }

// listRuns pages runs; view is what the caller may see of each
// (workflow.Run.ForUser for a user's own list).
func (s *Server) listRuns(ctx context.Context, userID, wf, st string, limit int32, cursor string, view func(workflow.Run) workflow.Run) ([]*workflowv1.Run, string, error) {
	f := workflow.RunFilter{UserID: userID, Workflow: wf, Limit: int(limit)}
	var verr workflow.ValidationError
	if st != "" {
		status, ok := workflow.ParseStatus(st)
		if !ok {
			verr.Fields = append(verr.Fields, workflow.FieldError{Field: "status", Message: "must be one of queued, running, succeeded, failed"})
		}
		f.Status = status
	}
	after, err := decodeCursor(cursor)
	if err != nil {
		return nil, "", toStatus(err)
	}
	if len(verr.Fields) > 0 {
		return nil, "", toStatus(&verr)
	}
	f.After = after
	runs, err := s.Service.ListRuns(ctx, f)
	if err != nil {
		return nil, "", toStatus(err)
	}
	out := make([]*workflowv1.Run, len(runs))
	for i, r := range runs {
		out[i] = runPB(view(r))
	}
	next := ""
	if len(runs) > 0 && len(runs) == effectiveLimit(limit) {
		last := runs[len(runs)-1]
		next = encodeCursor(last.CreatedAt, last.ID)
	}
	return out, next, nil
}

func effectiveLimit(l int32) int {
	if l == 0 {
		return workflow.DefaultLimit
	}
	return int(l)
}

// AdminGetRun implements workflowv1.WorkflowServiceServer.
func (s *Server) AdminGetRun(ctx context.Context, req *workflowv1.AdminGetRunRequest) (*workflowv1.AdminGetRunResponse, error) {
	r, err := s.Service.GetRun(ctx, "", req.GetId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &workflowv1.AdminGetRunResponse{Run: runPB(r)}, nil
}

// AdminListWorkflows implements workflowv1.WorkflowServiceServer.
func (s *Server) AdminListWorkflows(ctx context.Context, _ *workflowv1.AdminListWorkflowsRequest) (*workflowv1.AdminListWorkflowsResponse, error) {
	ws, err := s.Service.ListWorkflows(ctx, true)
	if err != nil {
		return nil, toStatus(err)
	}
	out := &workflowv1.AdminListWorkflowsResponse{Workflows: make([]*workflowv1.AdminWorkflow, len(ws))}
	for i, w := range ws {
		out.Workflows[i] = adminWorkflowPB(w)
	}
	return out, nil
}

// AdminCreateWorkflow implements workflowv1.WorkflowServiceServer.
func (s *Server) AdminCreateWorkflow(ctx context.Context, req *workflowv1.AdminCreateWorkflowRequest) (*workflowv1.AdminCreateWorkflowResponse, error) {
	p, err := user(ctx)
	if err != nil {
		return nil, err
	}
	w, err := s.Service.CreateWorkflow(ctx, p.UserID, workflow.NewWorkflow{
		Slug: req.GetSlug(), Name: req.GetName(), Description: req.GetDescription(), WebhookURL: req.GetWebhookUrl(),
		AuthHeaderName: req.GetAuthHeaderName(), AuthHeaderValue: req.GetAuthHeaderValue(),
		FeeCents: req.FeeCents, TimeoutMS: req.TimeoutMs, Active: req.Active, Reason: req.GetReason(),
	})
	if err != nil {
		return nil, toStatus(err)
	}
	return &workflowv1.AdminCreateWorkflowResponse{Workflow: adminWorkflowPB(w)}, nil
}

// AdminUpdateWorkflow implements workflowv1.WorkflowServiceServer.
func (s *Server) AdminUpdateWorkflow(ctx context.Context, req *workflowv1.AdminUpdateWorkflowRequest) (*workflowv1.AdminUpdateWorkflowResponse, error) {
	p, err := user(ctx)
	if err != nil {
		return nil, err
	}
	w, err := s.Service.UpdateWorkflow(ctx, p.UserID, req.GetSlug(), workflow.WorkflowChange{
		Name: req.Name, Description: req.Description, WebhookURL: req.WebhookUrl,
		AuthHeaderName: req.AuthHeaderName, AuthHeaderValue: req.AuthHeaderValue,
		FeeCents: req.FeeCents, TimeoutMS: req.TimeoutMs, Active: req.Active, Reason: req.GetReason(),
	})
	if err != nil {
		return nil, toStatus(err)
	}
	return &workflowv1.AdminUpdateWorkflowResponse{Workflow: adminWorkflowPB(w)}, nil
}

// AdminListAuditEvents implements workflowv1.WorkflowServiceServer.
func (s *Server) AdminListAuditEvents(ctx context.Context, req *workflowv1.AdminListAuditEventsRequest) (*workflowv1.AdminListAuditEventsResponse, error) {
	after, err := decodeCursor(req.GetCursor())
	if err != nil {
		return nil, toStatus(err)
	}
	evs, err := s.Service.ListAuditEvents(ctx, workflow.AuditFilter{TargetID: req.GetTargetId(), Limit: int(req.GetLimit()), After: after})
	if err != nil {
		return nil, toStatus(err)
	}
	out := &workflowv1.AdminListAuditEventsResponse{Events: make([]*workflowv1.AuditEvent, len(evs))}
	for i, e := range evs {
		out.Events[i] = &workflowv1.AuditEvent{
			Id: e.ID.String(), ActorId: e.ActorID, Action: e.Action, TargetType: e.TargetType, TargetId: e.TargetID,
			Reason: e.Reason, BeforeJson: e.Before, AfterJson: e.After, CreatedAt: timestamppb.New(e.CreatedAt),
		}
	}
	if len(evs) > 0 && len(evs) == effectiveLimit(req.GetLimit()) {
		last := evs[len(evs)-1]
		out.NextCursor = encodeCursor(last.CreatedAt, last.ID)
	}
	return out, nil
}

// AdminGetRunStats implements workflowv1.WorkflowServiceServer.
func (s *Server) AdminGetRunStats(ctx context.Context, req *workflowv1.AdminGetRunStatsRequest) (*workflowv1.AdminGetRunStatsResponse, error) {
	sr := workflow.StatsRequest{TopFailing: int(req.GetTopFailing())}
	if req.Since != nil {
		if err := req.GetSince().CheckValid(); err != nil {
			return nil, toStatus(&workflow.ValidationError{Fields: []workflow.FieldError{{Field: "since", Message: "must be a valid timestamp"}}})
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
	}
	for i, c := range st.ByStatus {
		out.ByStatus[i] = &workflowv1.RunStatusCount{Status: string(c.Status), Count: c.Count}
	}
	for i, f := range st.TopFailing {
		out.TopFailing[i] = &workflowv1.WorkflowFailures{Workflow: f.Workflow, Failed: f.Failed, Total: f.Total}
	}
	return out, nil
}

func adminWorkflowPB(w workflow.Workflow) *workflowv1.AdminWorkflow {
	return &workflowv1.AdminWorkflow{
		Slug: w.Slug, Name: w.Name, Description: w.Description, WebhookUrl: w.WebhookURL,
		AuthHeaderName: w.AuthHeaderName, AuthConfigured: w.AuthConfigured(), FeeCents: w.FeeCents,
		TimeoutMs: w.TimeoutMS, Active: w.Active, CreatedAt: timestamppb.New(w.CreatedAt),
	}
}

func ts(t *time.Time) *timestamppb.Timestamp {
	if t == nil {
		return nil
	}
	return timestamppb.New(*t)
}

func runPB(r workflow.Run) *workflowv1.Run {
	out := &workflowv1.Run{
		Id: r.ID.String(), UserId: r.UserID, Workflow: r.Workflow, Status: string(r.Status),
		FeeCents: r.FeeCents, ChargedCents: r.ChargedCents, InputJson: r.Input, OutputJson: r.Output,
		Error: r.Error, HttpStatus: int32(r.HTTPStatus), StartedAt: ts(r.StartedAt), FinishedAt: ts(r.FinishedAt),
		CreatedAt: timestamppb.New(r.CreatedAt),
	}
	if d, ok := r.Duration(); ok {
		ms := d.Milliseconds()
		out.DurationMs = &ms
	}
	return out
}
