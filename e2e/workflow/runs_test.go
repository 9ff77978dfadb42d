package workflow_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/meterflow/meterflow/platform/rpcerr"
	workflowv1 "github.com/meterflow/meterflow/proto/gen/meterflow/workflow/v1"
)

func TestRunsUntilTheFundsRunOut(t *testing.T) {
	t.Parallel()
	h := setup(t)
	rcv := newReceiver(t, answerJSON)
	h.createWorkflow(t, "greet", rcv.URL+"/webhook/greet", wfOpts{fee: 10})
	userID, ctx := h.user(t)
	h.fund(t, userID, 100)

	for i := range 10 {
		run, err := startRun(ctx, h, "greet", fmt.Sprintf(`{"name":"ada","i":%d}`, i), "", false)
		if err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
		if run.GetStatus() != "succeeded" || run.GetChargedCents() != 10 || run.GetFeeCents() != 10 || run.GetHttpStatus() != 200 {
			t.Fatalf("run %d = %v", i, run)
		}
		var out struct {
			Echo map[string]any `json:"echo"`
		}
		if err := json.Unmarshal(run.GetOutputJson(), &out); err != nil || out.Echo["name"] != "ada" {
			t.Fatalf("run %d output = %s (%v)", i, run.GetOutputJson(), err)
		}
		if run.DurationMs == nil || run.GetStartedAt() == nil || run.GetFinishedAt() == nil {
			t.Fatalf("run %d lacks timings: %v", i, run)
		}
	}
	_, err := startRun(ctx, h, "greet", `{"name":"ada","i":10}`, "", false)
	wantCode(t, err, codes.FailedPrecondition, rpcerr.InsufficientFunds)

	if n := rcv.hits.Load(); n != 10 {
		t.Fatalf("receiver saw %d calls, want 10 (the refused run must never reach n8n)", n)
	}
	if rows := h.feeRows(t, ctx); len(rows) != 10 {
		t.Fatalf("fee rows = %d, want 10", len(rows))
	} else {
		for _, r := range rows {
			if r.GetAmountCents() != -10 || r.GetReferenceType() != "run" || !strings.HasPrefix(r.GetDescription(), "Run of greet") {
				t.Fatalf("fee row %v", r)
			}
		}
	}
	if w := h.walletOf(t, ctx); w.GetBalanceCents() != 0 || w.GetHeldCents() != 0 {
		t.Fatalf("wallet = %v, want balance 0, held 0", w)
	}
	// The refused run is listed as failed, charged nothing and never
	// started (no started_at, no duration).
	list, err := h.wf.ListRuns(ctx, &workflowv1.ListRunsRequest{Status: "failed"})
	if err != nil || len(list.GetRuns()) != 1 || list.GetRuns()[0].GetChargedCents() != 0 || list.GetRuns()[0].GetError() != "insufficient funds" {
		t.Fatalf("failed runs = %v, %v", list.GetRuns(), err)
	}
	if r := list.GetRuns()[0]; r.GetStartedAt() != nil || r.DurationMs != nil || r.GetFinishedAt() == nil {
		t.Fatalf("refused run has timings %v, want finished_at only", r)
	}
	h.checkLedger(t)
}

func TestFailedRunsCostNothing(t *testing.T) {
	t.Parallel()
	h := setup(t)
	const timeoutMS = 400
	mux := http.NewServeMux()
	mux.HandleFunc("/webhook/500", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, `{"message":"Error in workflow"}`)
	})
	mux.HandleFunc("/webhook/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(3 * time.Second):
		}
		answerJSON(w, r)
	})
	mux.HandleFunc("/webhook/redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/webhook/ok", http.StatusTemporaryRedirect)
	})
	mux.HandleFunc("/webhook/auth", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusForbidden)
		_, _ = io.WriteString(w, "Authorization data is wrong!")
	})
	mux.HandleFunc("/webhook/unregistered", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `{"code":404,"message":"The requested webhook \"POST 7c1e-secret-path\" is not registered.","stacktrace":"Error: at /usr/lib/node_modules/n8n"}`)
	})
	mux.HandleFunc("/webhook/ok", answerJSON)
	rcv := newReceiver(t, mux.ServeHTTP)
	refused := closedAddr(t)

	// wantOutput is what admins see; the user who ran it sees only the
	// short error, never n8n's answer (stack traces, the webhook's path).
	tests := []struct {
		slug, url, wantErr string
		wantStatus         int32
		wantOutput         string
	}{
		{"e500", rcv.URL + "/webhook/500", "n8n answered 500", 500, `{"message":"Error in workflow"}`},
		{"slow", rcv.URL + "/webhook/slow", fmt.Sprintf("timed out after %d ms", timeoutMS), 0, ""},
		{"refused", "http://" + refused + "/webhook/x", "connection refused", 0, ""},
		{"redirect", rcv.URL + "/webhook/redirect", "n8n answered 307 (a redirect; redirects are not followed)", 307, ""},
		{"auth", rcv.URL + "/webhook/auth", "n8n answered 403", 403, `"Authorization data is wrong!"`},
		{"unregistered", rcv.URL + "/webhook/unregistered", "n8n answered 404", 404,
			`{"code":404,"message":"The requested webhook \"POST 7c1e-secret-path\" is not registered.","stacktrace":"Error: at /usr/lib/node_modules/n8n"}`},
	}
	for _, tt := range tests {
		h.createWorkflow(t, tt.slug, tt.url, wfOpts{fee: 10, timeoutMS: timeoutMS})
	}
	for _, tt := range tests {
		t.Run(tt.slug, func(t *testing.T) {
			t.Parallel()
			userID, ctx := h.user(t)
			h.fund(t, userID, 100)
			run, err := startRun(ctx, h, tt.slug, `{"a":1}`, "", false)
			if err != nil {
				t.Fatalf("StartRun: %v", err)
			}
			if run.GetStatus() != "failed" || run.GetChargedCents() != 0 || run.GetError() != tt.wantErr || run.GetHttpStatus() != tt.wantStatus {
				t.Fatalf("run = %v, want failed with %q", run, tt.wantErr)
			}
			got, err := h.wf.GetRun(ctx, &workflowv1.GetRunRequest{Id: run.GetId()})
			if err != nil {
				t.Fatal(err)
			}
			list, err := h.wf.ListRuns(ctx, &workflowv1.ListRunsRequest{})
			if err != nil || len(list.GetRuns()) != 1 {
				t.Fatalf("ListRuns = %v, %v", list, err)
			}
			for _, r := range []*workflowv1.Run{run, got.GetRun(), list.GetRuns()[0]} {
				if len(r.GetOutputJson()) != 0 || r.GetError() != tt.wantErr {
					t.Fatalf("the user sees output %s, error %q; want no output and %q", r.GetOutputJson(), r.GetError(), tt.wantErr)
				}
			}
			adm, err := h.wf.AdminGetRun(h.adminCtx, &workflowv1.AdminGetRunRequest{Id: run.GetId()})
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantOutput != "" && !jsonEqual(adm.GetRun().GetOutputJson(), tt.wantOutput) {
				t.Fatalf("admin output = %s, want %s", adm.GetRun().GetOutputJson(), tt.wantOutput)
			}
			// The sync answer came within timeout + 1 s of the run's creation.
			elapsed := run.GetFinishedAt().AsTime().Sub(run.GetCreatedAt().AsTime())
			if elapsed > timeoutMS*time.Millisecond+time.Second {
				t.Fatalf("run took %s, more than timeout + 1 s", elapsed)
			}
			if w := h.walletOf(t, ctx); w.GetBalanceCents() != 100 || w.GetHeldCents() != 0 || w.GetAvailableCents() != 100 {
				t.Fatalf("wallet = %v, want 100 and nothing held", w)
			}
			if rows := h.feeRows(t, ctx); len(rows) != 0 {
				t.Fatalf("fee rows = %v, want none", rows)
			}
		})
	}
	t.Cleanup(func() { h.checkLedger(t) })
}

func TestAuthHeaderReachesN8nAndTheSecretNeverLeaks(t *testing.T) {
	t.Parallel()
	h := setup(t)
	const secret = "n8n-header-secret-7f3a9c"
	rcv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-N8N-Auth") != secret {
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(http.StatusForbidden)
			_, _ = io.WriteString(w, "Authorization data is wrong!")
			return
		}
		answerJSON(w, r)
	})
	created := h.createWorkflow(t, "secure", rcv.URL+"/webhook/secure", wfOpts{headerName: "X-N8N-Auth", headerVal: secret})
	if !created.GetAuthConfigured() || created.GetFeeCents() != 10 || created.GetTimeoutMs() != 30000 || !created.GetActive() {
		t.Fatalf("created = %v (want defaults: fee 10, timeout 30000, active)", created)
	}
	userID, ctx := h.user(t)
	h.fund(t, userID, 50)
	run, err := startRun(ctx, h, "secure", `{"q":"x"}`, "", false)
	if err != nil || run.GetStatus() != "succeeded" {
		t.Fatalf("run = %v, %v", run, err)
	}
	hdr := rcv.lastHeader()
	if hdr.Get("X-Run-ID") != run.GetId() || hdr.Get("User-Agent") != "meterflow/1" || hdr.Get("Content-Type") != "application/json" {
		t.Fatalf("headers at n8n = %v", hdr)
	}

	// A wrong secret: n8n answers 403 and the run fails for free.
	newSecret := "rotated-secret-b81d0e"
	wrong := "wrong-value-0000"
	upd, err := h.wf.AdminUpdateWorkflow(h.adminCtx, &workflowv1.AdminUpdateWorkflowRequest{Slug: "secure", AuthHeaderValue: &wrong, Reason: "rotate"})
	if err != nil {
		t.Fatal(err)
	}
	failed, err := startRun(ctx, h, "secure", `{"q":"y"}`, "", false)
	if err != nil || failed.GetStatus() != "failed" || failed.GetHttpStatus() != 403 {
		t.Fatalf("run with wrong secret = %v, %v", failed, err)
	}
	if _, err := h.wf.AdminUpdateWorkflow(h.adminCtx, &workflowv1.AdminUpdateWorkflowRequest{Slug: "secure", AuthHeaderValue: &newSecret}); err != nil {
		t.Fatal(err)
	}

	// Nothing any API answers, nor any log line, contains a secret.
	var answers []string
	list, _ := h.wf.AdminListWorkflows(h.adminCtx, &workflowv1.AdminListWorkflowsRequest{})
	audit, err := h.wf.AdminListAuditEvents(h.adminCtx, &workflowv1.AdminListAuditEventsRequest{TargetId: "secure"})
	if err != nil || len(audit.GetEvents()) != 3 {
		t.Fatalf("audit events = %v, %v", audit.GetEvents(), err)
	}
	var after struct {
		AuthConfigured   bool `json:"auth_configured"`
		AuthValueChanged bool `json:"auth_value_changed"`
	}
	if ev := audit.GetEvents()[1]; ev.GetAction() != "workflow.update" || ev.GetReason() != "rotate" ||
		json.Unmarshal(ev.GetAfterJson(), &after) != nil || !after.AuthConfigured || !after.AuthValueChanged {
		t.Fatalf("audit event = %v", ev)
	}
	users, _ := h.wf.ListWorkflows(ctx, &workflowv1.ListWorkflowsRequest{})
	runs, _ := h.wf.ListRuns(ctx, &workflowv1.ListRunsRequest{})
	for _, m := range []fmt.Stringer{created, upd, list, audit, users, runs, run, failed} {
		answers = append(answers, m.String())
	}
	for _, s := range []string{secret, newSecret, wrong} {
		for _, a := range answers {
			if strings.Contains(a, s) {
				t.Fatalf("an API answer contains the secret: %s", a)
			}
		}
		if strings.Contains(h.logs.String(), s) {
			t.Fatalf("the logs contain the secret")
		}
	}
	if !strings.Contains(h.logs.String(), `"msg":"run finished"`) {
		t.Fatalf("expected run logs to be captured: %s", h.logs.String())
	}
}
func TestRunsArePrivate(t *testing.T) {
	t.Parallel()
	h := setup(t)
	rcv := newReceiver(t, answerJSON)
	h.createWorkflow(t, "mine", rcv.URL, wfOpts{fee: 1})
	h.createWorkflow(t, "other", rcv.URL, wfOpts{fee: 1})
	aID, aCtx := h.user(t)
	_, bCtx := h.user(t)
	h.fund(t, aID, 10)
	var ids []string
	for i, slug := range []string{"mine", "other", "mine"} {
		run, err := startRun(aCtx, h, slug, fmt.Sprintf(`{"i":%d}`, i), "", false)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, run.GetId())
	}
	_, err := h.wf.GetRun(bCtx, &workflowv1.GetRunRequest{Id: ids[0]})
	wantCode(t, err, codes.NotFound, rpcerr.NotFound)
	_, err = h.wf.GetRun(bCtx, &workflowv1.GetRunRequest{Id: "not-a-uuid"})
	wantCode(t, err, codes.NotFound, rpcerr.NotFound)
	if res, err := h.wf.ListRuns(bCtx, &workflowv1.ListRunsRequest{}); err != nil || len(res.GetRuns()) != 0 {
		t.Fatalf("B's runs = %v, %v", res.GetRuns(), err)
	}

	// A pages through her runs, newest first, with the filters.
	page, err := h.wf.ListRuns(aCtx, &workflowv1.ListRunsRequest{Limit: 2})
	if err != nil || len(page.GetRuns()) != 2 || page.GetRuns()[0].GetId() != ids[2] || page.GetNextCursor() == "" {
		t.Fatalf("page 1 = %v, %v", page, err)
	}
	rest, err := h.wf.ListRuns(aCtx, &workflowv1.ListRunsRequest{Limit: 2, Cursor: page.GetNextCursor()})
	if err != nil || len(rest.GetRuns()) != 1 || rest.GetRuns()[0].GetId() != ids[0] || rest.GetNextCursor() != "" {
		t.Fatalf("page 2 = %v, %v", rest, err)
	}
	mine, err := h.wf.ListRuns(aCtx, &workflowv1.ListRunsRequest{Workflow: "mine", Status: "succeeded"})
	if err != nil || len(mine.GetRuns()) != 2 {
		t.Fatalf("filtered = %v, %v", mine.GetRuns(), err)
	}
	admin, err := h.wf.AdminListRuns(h.adminCtx, &workflowv1.AdminListRunsRequest{UserId: aID})
	if err != nil || len(admin.GetRuns()) != 3 || admin.GetRuns()[0].GetUserId() != aID {
		t.Fatalf("admin list = %v, %v", admin.GetRuns(), err)
	}
	if got, err := h.wf.AdminGetRun(h.adminCtx, &workflowv1.AdminGetRunRequest{Id: ids[1]}); err != nil || got.GetRun().GetWorkflow() != "other" {
		t.Fatalf("admin get = %v, %v", got, err)
	}

	for _, tt := range []struct {
		name  string
		req   *workflowv1.ListRunsRequest
		field string
	}{
		{"bad status", &workflowv1.ListRunsRequest{Status: "done"}, "status"},
		{"bad cursor", &workflowv1.ListRunsRequest{Cursor: "xyz"}, "cursor"},
		{"limit too big", &workflowv1.ListRunsRequest{Limit: 201}, "limit"},
		{"negative limit", &workflowv1.ListRunsRequest{Limit: -1}, "limit"},
	} {
		_, err := h.wf.ListRuns(aCtx, tt.req)
		if rpcerr.Reason(err) != rpcerr.ValidationFailed || len(rpcerr.Fields(err)) != 1 || rpcerr.Fields(err)[0].Field != tt.field {
			t.Errorf("%s: err = %v, want validation_failed on %s", tt.name, err, tt.field)
		}
	}
	// Users cannot call admin methods.
	_, err = h.wf.AdminListRuns(aCtx, &workflowv1.AdminListRunsRequest{})
	wantCode(t, err, codes.PermissionDenied, rpcerr.Forbidden)
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

// jsonEqual reports whether got and want hold the same JSON value.
func jsonEqual(got []byte, want string) bool {
	var a, b any
	if json.Unmarshal(got, &a) != nil || json.Unmarshal([]byte(want), &b) != nil {
		return false
	}
	return reflect.DeepEqual(a, b)
}
