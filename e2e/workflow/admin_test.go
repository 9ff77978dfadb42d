package workflow_test

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/meterflow/meterflow/platform/callauth"
	"github.com/meterflow/meterflow/platform/rpcerr"
	workflowv1 "github.com/meterflow/meterflow/proto/gen/meterflow/workflow/v1"
	"github.com/meterflow/meterflow/services/workflow/app"
)

func ptr[T any](v T) *T { return &v }

func TestAdminWorkflowValidation(t *testing.T) {
	t.Parallel()
	h := setup(t, func(c *app.Config) { c.AllowedHosts = []string{"n8n.example.com", "127.0.0.1"} })
	good := func() *workflowv1.AdminCreateWorkflowRequest {
		return &workflowv1.AdminCreateWorkflowRequest{Slug: "ok", Name: "OK", WebhookUrl: "https://n8n.example.com/webhook/ok"}
	}
	tests := []struct {
		name   string
		change func(*workflowv1.AdminCreateWorkflowRequest)
		field  string
	}{
		{"bad slug", func(r *workflowv1.AdminCreateWorkflowRequest) { r.Slug = "Not_OK" }, "slug"},
		{"no name", func(r *workflowv1.AdminCreateWorkflowRequest) { r.Name = "" }, "name"},
		{"relative url", func(r *workflowv1.AdminCreateWorkflowRequest) { r.WebhookUrl = "/webhook/ok" }, "webhook_url"},
		{"file url", func(r *workflowv1.AdminCreateWorkflowRequest) { r.WebhookUrl = "file:///etc/passwd" }, "webhook_url"},
		{"host not allowed", func(r *workflowv1.AdminCreateWorkflowRequest) { r.WebhookUrl = "https://evil.example.org/x" }, "webhook_url"},
		{"zero fee", func(r *workflowv1.AdminCreateWorkflowRequest) { r.FeeCents = ptr[int64](0) }, "fee_cents"},
		{"timeout too long", func(r *workflowv1.AdminCreateWorkflowRequest) { r.TimeoutMs = ptr[int64](300_001) }, "timeout_ms"},
		{"header without secret", func(r *workflowv1.AdminCreateWorkflowRequest) { r.AuthHeaderName = "X-Key" }, "auth_header_value"},
		{"secret without header", func(r *workflowv1.AdminCreateWorkflowRequest) { r.AuthHeaderValue = "s" }, "auth_header_name"},
		{"secret with newline", func(r *workflowv1.AdminCreateWorkflowRequest) {
			r.AuthHeaderName, r.AuthHeaderValue = "X-Key", "a\r\nX-Evil: 1"
		}, "auth_header_value"},
	}
	for _, tt := range tests {
		req := good()
		tt.change(req)
		_, err := h.wf.AdminCreateWorkflow(h.adminCtx, req)
		if rpcerr.Reason(err) != rpcerr.ValidationFailed || len(rpcerr.Fields(err)) != 1 || rpcerr.Fields(err)[0].Field != tt.field {
			t.Errorf("%s: err = %v (fields %v), want validation_failed on %s", tt.name, err, rpcerr.Fields(err), tt.field)
		}
	}

	if _, err := h.wf.AdminCreateWorkflow(h.adminCtx, good()); err != nil {
		t.Fatal(err)
	}
	_, err := h.wf.AdminCreateWorkflow(h.adminCtx, good())
	wantCode(t, err, codes.AlreadyExists, rpcerr.SlugTaken)
	_, err = h.wf.AdminUpdateWorkflow(h.adminCtx, &workflowv1.AdminUpdateWorkflowRequest{Slug: "nope", Name: ptr("x")})
	wantCode(t, err, codes.NotFound, rpcerr.WorkflowNotFound)
	_, err = h.wf.AdminUpdateWorkflow(h.adminCtx, &workflowv1.AdminUpdateWorkflowRequest{Slug: "ok", WebhookUrl: ptr("ftp://n8n.example.com/x")})
	if rpcerr.Reason(err) != rpcerr.ValidationFailed {
		t.Fatalf("update to ftp url: %v", err)
	}
	upd, err := h.wf.AdminUpdateWorkflow(h.adminCtx, &workflowv1.AdminUpdateWorkflowRequest{Slug: "ok", FeeCents: ptr[int64](25), Active: ptr(false)})
	if err != nil || upd.GetWorkflow().GetFeeCents() != 25 || upd.GetWorkflow().GetActive() || upd.GetWorkflow().GetName() != "OK" {
		t.Fatalf("update = %v, %v", upd, err)
	}

	// A user can call none of the admin methods.
	_, uctx := h.user(t)
	_, err = h.wf.AdminCreateWorkflow(uctx, good())
	wantCode(t, err, codes.PermissionDenied, rpcerr.Forbidden)
	_, err = h.wf.AdminListAuditEvents(uctx, &workflowv1.AdminListAuditEventsRequest{})
	wantCode(t, err, codes.PermissionDenied, rpcerr.Forbidden)
	// And nobody without a user token can call a user method.
	_, err = h.wf.ListWorkflows(callauth.WithUserToken(uctx, ""), &workflowv1.ListWorkflowsRequest{})
	wantCode(t, err, codes.Unauthenticated, rpcerr.Unauthorized)
}

func TestStartRunErrors(t *testing.T) {
	t.Parallel()
	h := setup(t)
	rcv := newReceiver(t, answerJSON)
	h.createWorkflow(t, "live", rcv.URL, wfOpts{fee: 10})
	h.createWorkflow(t, "retired", rcv.URL, wfOpts{fee: 10})
	if _, err := h.wf.AdminUpdateWorkflow(h.adminCtx, &workflowv1.AdminUpdateWorkflowRequest{Slug: "retired", Active: ptr(false)}); err != nil {
		t.Fatal(err)
	}
	userID, ctx := h.user(t)
	h.fund(t, userID, 100)

	tests := []struct {
		name, slug, input, key string
		code                   codes.Code
		reason, field          string
	}{
		{"unknown workflow", "nope", `{}`, "", codes.NotFound, rpcerr.WorkflowNotFound, ""},
		{"inactive workflow", "retired", `{}`, "", codes.NotFound, rpcerr.WorkflowNotFound, ""},
		{"array input", "live", `[1,2]`, "", codes.InvalidArgument, rpcerr.ValidationFailed, "input"},
		{"string input", "live", `"hi"`, "", codes.InvalidArgument, rpcerr.ValidationFailed, "input"},
		{"broken input", "live", `{"a":`, "", codes.InvalidArgument, rpcerr.ValidationFailed, "input"},
		{"key too long", "live", `{}`, strings.Repeat("k", 256), codes.InvalidArgument, rpcerr.ValidationFailed, "idempotency_key"},
	}
	for _, tt := range tests {
		_, err := startRun(ctx, h, tt.slug, tt.input, tt.key, false)
		wantCode(t, err, tt.code, tt.reason)
		if tt.field != "" && (len(rpcerr.Fields(err)) != 1 || rpcerr.Fields(err)[0].Field != tt.field) {
			t.Errorf("%s: fields = %v, want %s", tt.name, rpcerr.Fields(err), tt.field)
		}
	}
	if rcv.hits.Load() != 0 {
		t.Fatalf("receiver called %d times", rcv.hits.Load())
	}

	// Users see active workflows only; admins see all.
	list, err := h.wf.ListWorkflows(ctx, &workflowv1.ListWorkflowsRequest{})
	if err != nil || len(list.GetWorkflows()) != 1 || list.GetWorkflows()[0].GetSlug() != "live" {
		t.Fatalf("user list = %v, %v", list, err)
	}
	all, err := h.wf.AdminListWorkflows(h.adminCtx, &workflowv1.AdminListWorkflowsRequest{})
	if err != nil || len(all.GetWorkflows()) != 2 {
		t.Fatalf("admin list = %v, %v", all, err)
	}

	// A run keeps the fee it was charged when the workflow's fee changes.
	run, err := startRun(ctx, h, "live", `{}`, "", false)
	if err != nil || run.GetChargedCents() != 10 {
		t.Fatalf("run = %v, %v", run, err)
	}
	if _, err := h.wf.AdminUpdateWorkflow(h.adminCtx, &workflowv1.AdminUpdateWorkflowRequest{Slug: "live", FeeCents: ptr[int64](30)}); err != nil {
		t.Fatal(err)
	}
	got, err := h.wf.GetRun(ctx, &workflowv1.GetRunRequest{Id: run.GetId()})
	if err != nil || got.GetRun().GetFeeCents() != 10 || got.GetRun().GetChargedCents() != 10 {
		t.Fatalf("old run after fee change = %v, %v", got, err)
	}
	if w := h.walletOf(t, ctx); w.GetBalanceCents() != 90 {
		t.Fatalf("wallet = %v", w)
	}
}

// TestCatalogChangesApplyAtOnce: the run path caches workflows
// (WORKFLOW_CATALOG_TTL), but a change made through this process is seen
// by the very next run: the new fee is charged, a deactivated workflow is
// not found.
func TestCatalogChangesApplyAtOnce(t *testing.T) {
	t.Parallel()
	h := setup(t, func(c *app.Config) { c.CatalogTTL = time.Hour })
	rcv := newReceiver(t, answerJSON)
	h.createWorkflow(t, "priced", rcv.URL, wfOpts{fee: 10})
	userID, ctx := h.user(t)
	h.fund(t, userID, 100)
	for _, step := range []struct {
		change *workflowv1.AdminUpdateWorkflowRequest
		charge int64
	}{
		{nil, 10},
		{&workflowv1.AdminUpdateWorkflowRequest{Slug: "priced", FeeCents: ptr[int64](25)}, 25},
		{&workflowv1.AdminUpdateWorkflowRequest{Slug: "priced", Active: ptr(false)}, 0},
	} {
		if step.change != nil {
			if _, err := h.wf.AdminUpdateWorkflow(h.adminCtx, step.change); err != nil {
				t.Fatal(err)
			}
		}
		run, err := startRun(ctx, h, "priced", `{}`, "", false)
		if step.charge == 0 {
			wantCode(t, err, codes.NotFound, rpcerr.WorkflowNotFound)
			continue
		}
		if err != nil || run.GetChargedCents() != step.charge {
			t.Fatalf("run after %v: charged %d, %v; want %d", step.change, run.GetChargedCents(), err, step.charge)
		}
	}
	h.checkLedger(t)
}
