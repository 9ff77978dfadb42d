package console_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/meterflow/meterflow/e2e/stack"
	"github.com/meterflow/meterflow/gateway/console"
	"github.com/meterflow/meterflow/platform/callauth"
	"github.com/meterflow/meterflow/platform/stdwebhooks"
	workflowv1 "github.com/meterflow/meterflow/proto/gen/meterflow/workflow/v1"
)

// TestCallbackModeInTheConsole: the workflow form sets the completion mode,
// the verdict window and the write-only signing secret (never shown, and
// removable); the workflows list says which workflows wait for verdicts;
// runs waiting for theirs are listed with how long they have waited.
func TestCallbackModeInTheConsole(t *testing.T) {
	t.Parallel()
	b := setup(t, console.Config{LoginPerMinute: 1000})
	n8n := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(n8n.Close)
	secret, err := stdwebhooks.NewSecret()
	if err != nil {
		t.Fatal(err)
	}

	br := b.newBrowser()
	br.mustLogin(b.admin)
	tok := csrf(t, br.get("/workflows/new"))
	form := url.Values{"csrf": {tok}, "slug": {"crm"}, "name": {"CRM"}, "webhook_url": {n8n.URL + "/webhook/crm"},
		"fee": {"0.10"}, "timeout_ms": {"5000"}, "completion": {"callback"}, "callback_timeout_ms": {"2000"},
		"signing_secret": {secret}, "active": {"on"}}
	if p := br.post("/workflows", form); p.Status != http.StatusBadRequest || !strings.Contains(p.Body, "callback timeout ms must be at least timeout_ms") || strings.Contains(p.Body, secret) {
		t.Fatalf("window shorter than the timeout: %d %s", p.Status, p.Body)
	}
	form.Set("callback_timeout_ms", "600000")
	if p := br.post("/workflows", form); p.Status != http.StatusSeeOther {
		t.Fatalf("create: %d %s", p.Status, p.Body)
	}
	list := br.get("/workflows")
	if !strings.Contains(list.Body, "verdict</span> within 10m0s") || !strings.Contains(list.Body, ">signed<") || strings.Contains(list.Body, secret) {
		t.Fatalf("workflows: %s", list.Body)
	}
	edit := br.get("/workflows/crm")
	if !strings.Contains(edit.Body, `value="callback" checked`) || !strings.Contains(edit.Body, "a secret is <strong>configured</strong>") || strings.Contains(edit.Body, secret) {
		t.Fatalf("edit form: %s", edit.Body)
	}

	// A run waiting for its verdict, listed with how long it has waited.
	admin := b.stack.Admin(t)
	user, _, userID := b.stack.Signup(t, "waiting-"+randomHex()+"@example.com", "user-password-1")
	if r := b.stack.Do(t, stack.Request{Method: "POST", Path: "/v1/admin/users/" + userID + "/adjustments", Token: admin,
		Body: map[string]any{"amount_cents": 100, "reason": "credit"}, Headers: map[string]string{"Idempotency-Key": randomHex()}}); r.Status != 201 {
		t.Fatalf("credit: %d %s", r.Status, r.Body)
	}
	r := b.stack.Do(t, stack.Request{Method: "POST", Path: "/v1/workflows/crm/runs?async=true", Token: user, Body: map[string]any{"input": map[string]any{}}})
	if r.Status != 202 {
		t.Fatalf("run: %d %s", r.Status, r.Body)
	}
	id := r.JSON(t)["id"].(string)
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		got, err := b.workflow.AdminGetRun(callCtx(t, b), &workflowv1.AdminGetRunRequest{Id: id})
		if err == nil && got.GetRun().GetAwaitingCallback() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the run does not wait for its verdict: %v %v", got, err)
		}
	}
	waiting := br.get("/runs?awaiting=1")
	if !strings.Contains(waiting.Body, id[:8]) || !strings.Contains(waiting.Body, "awaiting verdict: waited") || !strings.Contains(waiting.Body, "left") {
		t.Fatalf("waiting runs: %s", waiting.Body)
	}
	if p := br.get("/runs/" + id); !strings.Contains(p.Body, "verdict (callback mode)") || !strings.Contains(p.Body, "callback_timeout</span> at") {
		t.Fatalf("run page: %s", p.Body)
	}

	// Removing the signing secret; the mode stays.
	upd := url.Values{"csrf": {tok}, "name": {"CRM"}, "webhook_url": {n8n.URL + "/webhook/crm"}, "fee": {"0.10"}, "timeout_ms": {"5000"},
		"completion": {"callback"}, "callback_timeout_ms": {"600000"}, "clear_signing_secret": {"on"}}
	if p := br.post("/workflows/crm", upd); p.Status != http.StatusSeeOther {
		t.Fatalf("update: %d %s", p.Status, p.Body)
	}
	if list := br.get("/workflows"); strings.Contains(list.Body, ">signed<") || !strings.Contains(list.Body, "verdict</span>") {
		t.Fatalf("after removing the secret: %s", list.Body)
	}
	if audit := br.get("/audit?source=workflow"); !strings.Contains(audit.Body, "signing_secret_changed") || strings.Contains(audit.Body, secret) {
		t.Fatalf("audit: %s", audit.Body)
	}
}

// callCtx is a context carrying the admin's access token for direct calls.
func callCtx(t *testing.T, b *bundle) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return callauth.WithUserToken(ctx, b.stack.Login(t, b.admin, adminPassword))
}
