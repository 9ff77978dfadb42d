// Package grpcapi serves the workflow service's gRPC API: proto to domain
// mapping, the call policy and one error mapping.
package grpcapi

import (
	"github.com/meterflow/meterflow/platform/apikey"
	"github.com/meterflow/meterflow/platform/callauth"
	workflowv1 "github.com/meterflow/meterflow/proto/gen/meterflow/workflow/v1"
)

// Policy says who may call each method (docs/trust-model.md): users' calls
// and admins' calls come only through the gateway, with the user's own token.
func Policy() callauth.Policy {
	// An API key's token reaches a user method only with the scope named
	// here (the same routes the gateway opens to it).
	user := func(scope string) callauth.Rule {
		return callauth.Rule{Callers: []string{"gateway"}, Access: callauth.UserRequired, Scope: scope}
	}
	admin := callauth.Rule{Callers: []string{"gateway"}, Access: callauth.AdminRequired}
	return callauth.Policy{
		workflowv1.WorkflowService_ListWorkflows_FullMethodName:        user(apikey.ScopeWorkflowsRead),
		workflowv1.WorkflowService_StartRun_FullMethodName:             user(apikey.ScopeRunsWrite),
		workflowv1.WorkflowService_GetRun_FullMethodName:               user(apikey.ScopeRunsRead),
		workflowv1.WorkflowService_ListRuns_FullMethodName:             user(apikey.ScopeRunsRead),
		workflowv1.WorkflowService_AdminListRuns_FullMethodName:        admin,
		workflowv1.WorkflowService_AdminGetRun_FullMethodName:          admin,
		workflowv1.WorkflowService_AdminListWorkflows_FullMethodName:   admin,
		workflowv1.WorkflowService_AdminCreateWorkflow_FullMethodName:  admin,
		workflowv1.WorkflowService_AdminUpdateWorkflow_FullMethodName:  admin,
		workflowv1.WorkflowService_AdminListAuditEvents_FullMethodName: admin,
		workflowv1.WorkflowService_AdminGetRunStats_FullMethodName:     admin,
		// The portal's charts: a login's token only (no scope).
		workflowv1.WorkflowService_GetRunStats_FullMethodName: user(""),
		// A workflow's verdict: no user (n8n has no login); the run's
		// callback token, checked by the service, authenticates it. Closed
		// to API keys (no scope).
		workflowv1.WorkflowService_SubmitRunVerdict_FullMethodName: {Callers: []string{"gateway"}, Access: callauth.ServiceOnly},
	}
}
