package grpcapi

import (
	"context"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/meterflow/meterflow/platform/callauth"
	"github.com/meterflow/meterflow/platform/paging"
	"github.com/meterflow/meterflow/platform/rpcerr"
	"github.com/meterflow/meterflow/platform/validation"
	workflowv1 "github.com/meterflow/meterflow/proto/gen/meterflow/workflow/v1"
	"github.com/meterflow/meterflow/services/workflow/internal/workflow"
)

// Server implements workflowv1.WorkflowServiceServer.
type Server struct {
	workflowv1.UnimplementedWorkflowServiceServer
	Service *workflow.Service
}

// user is the calling user's id, from the access token the gateway passed on.
func user(ctx context.Context) (uuid.UUID, error) {
	p, ok := callauth.UserFrom(ctx)
	if !ok {
		return uuid.Nil, rpcerr.New(codes.Unauthenticated, rpcerr.Unauthorized, "missing user")
	}
	id, err := uuid.Parse(p.UserID)
	if err != nil || id == uuid.Nil {
		return uuid.Nil, rpcerr.New(codes.Unauthenticated, rpcerr.Unauthorized, "access token subject is not a user id")
	}
	return id, nil
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
	uid, err := user(ctx)
	if err != nil {
		return nil, err
	}
	sr := workflow.StartRequest{
		Workflow: req.GetWorkflow(), Input: req.GetInputJson(), IdempotencyKey: req.GetIdempotencyKey(), Async: req.GetAsync(),
	}
	// A call made with an API key: its id and limit come from the verified
	// token (identity put them there), never from the request.
	if p, _ := callauth.UserFrom(ctx); p.ViaAPIKey() {
		if sr.APIKeyID, err = uuid.Parse(p.KeyID); err != nil {
			return nil, rpcerr.New(codes.Unauthenticated, rpcerr.Unauthorized, "access token key_id is not a key id")
		}
		sr.APIKeyLimitCents = p.SpendLimitCents
	}
	r, err := s.Service.StartRun(ctx, uid, sr)
	if err != nil {
		return nil, toStatus(err)
	}
	return &workflowv1.StartRunResponse{Run: runPB(r.ForUser())}, nil
}

// GetRun implements workflowv1.WorkflowServiceServer.
func (s *Server) GetRun(ctx context.Context, req *workflowv1.GetRunRequest) (*workflowv1.GetRunResponse, error) {
	uid, err := user(ctx)
	if err != nil {
		return nil, err
	}
	r, err := s.Service.GetRun(ctx, uid, req.GetId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &workflowv1.GetRunResponse{Run: runPB(r.ForUser())}, nil
}

// ListRuns implements workflowv1.WorkflowServiceServer.
func (s *Server) ListRuns(ctx context.Context, req *workflowv1.ListRunsRequest) (*workflowv1.ListRunsResponse, error) {
	uid, err := user(ctx)
	if err != nil {
		return nil, err
	}
	f := runList{user: uid, workflow: req.GetWorkflow(), status: req.GetStatus(), limit: req.GetLimit(), cursor: req.GetCursor()}
	runs, next, err := s.listRuns(ctx, f, workflow.Run.ForUser)
	if err != nil {
		return nil, err
	}
	return &workflowv1.ListRunsResponse{Runs: runs, NextCursor: next}, nil
}

// AdminListRuns implements workflowv1.WorkflowServiceServer.
func (s *Server) AdminListRuns(ctx context.Context, req *workflowv1.AdminListRunsRequest) (*workflowv1.AdminListRunsResponse, error) {
	var uid uuid.UUID
	if raw := req.GetUserId(); raw != "" {
		var err error
		if uid, err = uuid.Parse(raw); err != nil || uid == uuid.Nil {
			return nil, toStatus(validation.Field("user_id", "must be a user id (UUID)"))
		}
	}
	f := runList{user: uid, workflow: req.GetWorkflow(), status: req.GetStatus(), limit: req.GetLimit(), cursor: req.GetCursor(),
		awaiting: req.GetAwaitingCallback()}
	runs, next, err := s.listRuns(ctx, f, asAdmin)
	if err != nil {
		return nil, err
	}
	return &workflowv1.AdminListRunsResponse{Runs: runs, NextCursor: next}, nil
}

// asAdmin is the run as admins see it: whole.
func asAdmin(r workflow.Run) workflow.Run { return r }

// runList is a request for a page of runs.
type runList struct {
	// user is whose runs (uuid.Nil: every user).
	user                     uuid.UUID
	workflow, status, cursor string
	limit                    int32
	// awaiting: only runs waiting for their verdict (admins).
	awaiting bool
}

// listRuns pages runs as l asks; view is what the caller may see of each
// (workflow.Run.ForUser for a user's own list).
func (s *Server) listRuns(ctx context.Context, l runList, view func(workflow.Run) workflow.Run) ([]*workflowv1.Run, string, error) {
	f := workflow.RunFilter{UserID: l.user, Workflow: l.workflow, Limit: int(l.limit), AwaitingCallback: l.awaiting}
	if l.status != "" {
		status, ok := workflow.ParseStatus(l.status)
		if !ok {
			return nil, "", toStatus(validation.Field("status", "must be one of queued, running, succeeded, failed"))
		}
		if l.awaiting && status != workflow.StatusRunning {
			return nil, "", toStatus(validation.Field("status", "runs awaiting a verdict are running"))
		}
		f.Status = status
	}
	after, err := paging.ParseCursor(l.cursor)
	if err != nil {
		return nil, "", toStatus(err)
	}
	f.After = after
	runs, next, err := s.Service.ListRuns(ctx, f)
	if err != nil {
		return nil, "", toStatus(err)
	}
	out := make([]*workflowv1.Run, len(runs))
	for i, r := range runs {
		out[i] = runPB(view(r))
	}
	return out, next, nil
}

// AdminGetRun implements workflowv1.WorkflowServiceServer.
func (s *Server) AdminGetRun(ctx context.Context, req *workflowv1.AdminGetRunRequest) (*workflowv1.AdminGetRunResponse, error) {
	r, err := s.Service.GetRun(ctx, uuid.Nil, req.GetId())
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
	actor, err := user(ctx)
	if err != nil {
		return nil, err
	}
	w, err := s.Service.CreateWorkflow(ctx, actor, workflow.NewWorkflow{
		Slug: req.GetSlug(), Name: req.GetName(), Description: req.GetDescription(), WebhookURL: req.GetWebhookUrl(),
		AuthHeaderName: req.GetAuthHeaderName(), AuthHeaderValue: req.GetAuthHeaderValue(),
		FeeCents: req.FeeCents, TimeoutMS: req.TimeoutMs, Active: req.Active, Reason: req.GetReason(),
		Completion: req.GetCompletion(), CallbackTimeoutMS: req.CallbackTimeoutMs, SigningSecret: req.GetSigningSecret(),
	})
	if err != nil {
		return nil, toStatus(err)
	}
	return &workflowv1.AdminCreateWorkflowResponse{Workflow: adminWorkflowPB(w)}, nil
}

// AdminUpdateWorkflow implements workflowv1.WorkflowServiceServer.
func (s *Server) AdminUpdateWorkflow(ctx context.Context, req *workflowv1.AdminUpdateWorkflowRequest) (*workflowv1.AdminUpdateWorkflowResponse, error) {
	actor, err := user(ctx)
	if err != nil {
		return nil, err
	}
	w, err := s.Service.UpdateWorkflow(ctx, actor, req.GetSlug(), workflow.WorkflowChange{
		Name: req.Name, Description: req.Description, WebhookURL: req.WebhookUrl,
		AuthHeaderName: req.AuthHeaderName, AuthHeaderValue: req.AuthHeaderValue,
		FeeCents: req.FeeCents, TimeoutMS: req.TimeoutMs, Active: req.Active, Reason: req.GetReason(),
		Completion: req.Completion, CallbackTimeoutMS: req.CallbackTimeoutMs, SigningSecret: req.SigningSecret,
	})
	if err != nil {
		return nil, toStatus(err)
	}
	return &workflowv1.AdminUpdateWorkflowResponse{Workflow: adminWorkflowPB(w)}, nil
}

// AdminListAuditEvents implements workflowv1.WorkflowServiceServer.
func (s *Server) AdminListAuditEvents(ctx context.Context, req *workflowv1.AdminListAuditEventsRequest) (*workflowv1.AdminListAuditEventsResponse, error) {
	after, err := paging.ParseCursor(req.GetCursor())
	if err != nil {
		return nil, toStatus(err)
	}
	evs, next, err := s.Service.ListAuditEvents(ctx, workflow.AuditFilter{TargetID: req.GetTargetId(), Limit: int(req.GetLimit()), After: after})
	if err != nil {
		return nil, toStatus(err)
	}
	out := &workflowv1.AdminListAuditEventsResponse{Events: make([]*workflowv1.AuditEvent, len(evs)), NextCursor: next}
	for i, e := range evs {
		out.Events[i] = &workflowv1.AuditEvent{
			Id: e.ID.String(), ActorId: e.ActorID.String(), Action: e.Action, TargetType: e.TargetType, TargetId: e.TargetID,
			Reason: e.Reason, BeforeJson: e.Before, AfterJson: e.After, CreatedAt: timestamppb.New(e.CreatedAt),
		}
	}
	return out, nil
}

func adminWorkflowPB(w workflow.Workflow) *workflowv1.AdminWorkflow {
	return &workflowv1.AdminWorkflow{
		Slug: w.Slug, Name: w.Name, Description: w.Description, WebhookUrl: w.WebhookURL,
		AuthHeaderName: w.AuthHeaderName, AuthConfigured: w.AuthConfigured(), FeeCents: w.FeeCents,
		TimeoutMs: w.TimeoutMS, Active: w.Active, CreatedAt: timestamppb.New(w.CreatedAt),
		Completion: string(w.Completion), CallbackTimeoutMs: w.CallbackTimeoutMS, SigningConfigured: w.SigningConfigured(),
	}
}

// SubmitRunVerdict implements workflowv1.WorkflowServiceServer.
func (s *Server) SubmitRunVerdict(ctx context.Context, req *workflowv1.SubmitRunVerdictRequest) (*workflowv1.SubmitRunVerdictResponse, error) {
	err := s.Service.SubmitVerdict(ctx, req.GetRunId(), req.GetToken(), workflow.Verdict{
		Status: workflow.Status(req.GetStatus()), Output: req.GetOutputJson(), Error: req.GetError(),
	})
	if err != nil {
		return nil, toStatus(err)
	}
	return &workflowv1.SubmitRunVerdictResponse{}, nil
}

func ts(t *time.Time) *timestamppb.Timestamp {
	if t == nil {
		return nil
	}
	return timestamppb.New(*t)
}

func runPB(r workflow.Run) *workflowv1.Run {
	out := &workflowv1.Run{
		Id: r.ID.String(), UserId: r.UserID.String(), Workflow: r.Workflow, Status: string(r.Status),
		FeeCents: r.FeeCents, ChargedCents: r.ChargedCents, InputJson: r.Input, OutputJson: r.Output,
		Error: r.Error, HttpStatus: int32(r.HTTPStatus), StartedAt: ts(r.StartedAt), FinishedAt: ts(r.FinishedAt),
		CreatedAt: timestamppb.New(r.CreatedAt), Completion: string(r.Completion), AwaitingCallback: r.AwaitingCallback(),
	}
	if d, ok := r.CallbackDeadline(); ok {
		out.CallbackDeadlineAt = timestamppb.New(d)
	}
	if r.APIKeyID != uuid.Nil {
		out.ApiKeyId = r.APIKeyID.String()
	}
	if d, ok := r.Duration(); ok {
		ms := d.Milliseconds()
		out.DurationMs = &ms
	}
	return out
}
