package workflow_test

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/meterflow/meterflow/platform/rpcerr"
	"github.com/meterflow/meterflow/platform/secretbox"
	workflowv1 "github.com/meterflow/meterflow/proto/gen/meterflow/workflow/v1"
	"github.com/meterflow/meterflow/services/workflow/app"
)

func noContent(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }

// sql runs one statement on the service's database, as someone with write
// access to it (not through the service) would.
func (h *harness) sql(t *testing.T, query string, args ...any) {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), h.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// runFails starts a sync run that must fail with msg, cost nothing and
// leave the receivers untouched.
func runFails(t *testing.T, h *harness, slug, msg string, untouched ...*receiver) {
	t.Helper()
	userID, ctx := h.user(t)
	h.fund(t, userID, 50)
	run, err := startRun(ctx, h, slug, `{}`, "", false)
	if err != nil || run.GetStatus() != "failed" || run.GetError() != msg || run.GetChargedCents() != 0 {
		t.Fatalf("run = %s %q charged %d, err %v; want failed with %q", run.GetStatus(), run.GetError(), run.GetChargedCents(), err, msg)
	}
	for _, r := range untouched {
		if n := r.hits.Load(); n != 0 {
			t.Fatalf("%s was called %d times", r.URL, n)
		}
	}
	if w := h.walletOf(t, ctx); w.GetBalanceCents() != 50 || w.GetHeldCents() != 0 {
		t.Fatalf("wallet = %v, want 50 and nothing held", w)
	}
}

// runSends starts a sync run that must succeed and reach r with header
// X-Key: secret.
func runSends(t *testing.T, h *harness, slug string, r *receiver, secret string) {
	t.Helper()
	userID, ctx := h.user(t)
	h.fund(t, userID, 50)
	run, err := startRun(ctx, h, slug, `{}`, "", false)
	if err != nil || run.GetStatus() != "succeeded" {
		t.Fatalf("run = %v, %v", run, err)
	}
	if got := r.lastHeader().Get("X-Key"); got != secret {
		t.Fatalf("X-Key = %q, want %q", got, secret)
	}
}

// TestPrivateWebhookAddressesAreRefused: without WORKFLOW_ALLOW_PRIVATE,
// a webhook cannot reach loopback, by address (refused when saved) or by a
// name that resolves to it (refused when dialed), and nothing is charged.
func TestPrivateWebhookAddressesAreRefused(t *testing.T) {
	t.Parallel()
	h := setup(t, func(c *app.Config) { c.AllowPrivate = false })
	rcv := newReceiver(t, noContent)
	u, _ := url.Parse(rcv.URL)
	for _, bad := range []string{rcv.URL + "/webhook/x", "http://169.254.169.254/latest/meta-data/", "http://[::ffff:127.0.0.1]:" + u.Port() + "/x"} {
		_, err := h.wf.AdminCreateWorkflow(h.adminCtx, &workflowv1.AdminCreateWorkflowRequest{Slug: "bad", Name: "Bad", WebhookUrl: bad})
		if rpcerr.Reason(err) != rpcerr.ValidationFailed || rpcerr.Fields(err)[0].Field != "webhook_url" {
			t.Fatalf("create with %s: err = %v, want validation_failed on webhook_url", bad, err)
		}
	}
	h.createWorkflow(t, "by-name", "http://localhost:"+u.Port()+"/webhook/x", wfOpts{fee: 10})
	runFails(t, h, "by-name", "webhook address is not allowed", rcv)
	h.checkLedger(t)
}

// TestNewWebhookURLClearsTheSecret: the auth header value was given for
// one URL; an admin who changes only the URL must not get it sent to a
// host of their choosing.
func TestNewWebhookURLClearsTheSecret(t *testing.T) {
	t.Parallel()
	h := setup(t)
	first, second := newReceiver(t, noContent), newReceiver(t, noContent)
	h.createWorkflow(t, "sec", first.URL, wfOpts{fee: 10, headerName: "X-Key", headerVal: "secret-1"})

	// Other changes keep it.
	upd, err := h.wf.AdminUpdateWorkflow(h.adminCtx, &workflowv1.AdminUpdateWorkflowRequest{Slug: "sec", FeeCents: ptr[int64](12), WebhookUrl: ptr(first.URL)})
	if err != nil || !upd.GetWorkflow().GetAuthConfigured() {
		t.Fatalf("fee change: %v, %v", upd, err)
	}
	runSends(t, h, "sec", first, "secret-1")

	upd, err = h.wf.AdminUpdateWorkflow(h.adminCtx, &workflowv1.AdminUpdateWorkflowRequest{Slug: "sec", WebhookUrl: ptr(second.URL + "/collect"), Reason: "move"})
	if err != nil || upd.GetWorkflow().GetAuthConfigured() || upd.GetWorkflow().GetAuthHeaderName() != "X-Key" {
		t.Fatalf("URL change: %v, %v; want auth_configured false, the header name kept", upd, err)
	}
	runFails(t, h, "sec", "workflow misconfigured: auth header value must be entered again", second)
	evs, err := h.wf.AdminListAuditEvents(h.adminCtx, &workflowv1.AdminListAuditEventsRequest{TargetId: "sec", Limit: 1})
	if err != nil || !bytes.Contains(evs.GetEvents()[0].GetAfterJson(), []byte(`"auth_value_changed": true`)) {
		t.Fatalf("audit = %v, %v", evs, err)
	}

	// Other changes are still possible; a new value restores the workflow.
	if _, err := h.wf.AdminUpdateWorkflow(h.adminCtx, &workflowv1.AdminUpdateWorkflowRequest{Slug: "sec", Description: ptr("moved")}); err != nil {
		t.Fatalf("description change without the secret: %v", err)
	}
	upd, err = h.wf.AdminUpdateWorkflow(h.adminCtx, &workflowv1.AdminUpdateWorkflowRequest{Slug: "sec", AuthHeaderValue: ptr("secret-2")})
	if err != nil || !upd.GetWorkflow().GetAuthConfigured() {
		t.Fatalf("new secret: %v, %v", upd, err)
	}
	runSends(t, h, "sec", second, "secret-2")
	if first.hits.Load() != 1 {
		t.Fatalf("the first URL was called %d times, want once", first.hits.Load())
	}
}

// TestSealedSecretIsBoundToTheURL: a URL changed in the database, not
// through the service, leaves the secret sealed to the old URL unreadable,
// so it is never sent to the new one.
func TestSealedSecretIsBoundToTheURL(t *testing.T) {
	t.Parallel()
	h := setup(t, func(c *app.Config) { c.CatalogTTL = 0 })
	first, second := newReceiver(t, noContent), newReceiver(t, noContent)
	h.createWorkflow(t, "bound", first.URL, wfOpts{fee: 10, headerName: "X-Key", headerVal: "bound-secret"})
	runSends(t, h, "bound", first, "bound-secret")

	h.sql(t, "UPDATE workflows SET webhook_url = $1 WHERE slug = 'bound'", second.URL)
	runFails(t, h, "bound", "workflow misconfigured: auth secret unreadable", second)
}

// TestSecretsSealedToTheSlugStillWork: values sealed before the URL was
// part of the seal (version 1) keep working, and an admin update reseals
// them to slug and URL.
func TestSecretsSealedToTheSlugStillWork(t *testing.T) {
	t.Parallel()
	key := bytes.Repeat([]byte{7}, secretbox.KeySize)
	h := setup(t, func(c *app.Config) { c.CatalogTTL, c.SecretsKey = 0, key })
	box, err := secretbox.New(key)
	if err != nil {
		t.Fatal(err)
	}
	first, second := newReceiver(t, noContent), newReceiver(t, noContent)
	h.createWorkflow(t, "old", first.URL, wfOpts{fee: 10})
	legacy, err := box.Seal([]byte("old-secret"), "old")
	if err != nil {
		t.Fatal(err)
	}
	h.sql(t, "UPDATE workflows SET auth_header_name = 'X-Key', auth_header_value_enc = $1 WHERE slug = 'old'", legacy)
	runSends(t, h, "old", first, "old-secret")

	upd, err := h.wf.AdminUpdateWorkflow(h.adminCtx, &workflowv1.AdminUpdateWorkflowRequest{Slug: "old", Description: ptr("resealed")})
	if err != nil || !upd.GetWorkflow().GetAuthConfigured() {
		t.Fatalf("update: %v, %v", upd, err)
	}
	runSends(t, h, "old", first, "old-secret")

	// Resealed: now bound to the URL as well.
	h.sql(t, "UPDATE workflows SET webhook_url = $1 WHERE slug = 'old'", second.URL)
	runFails(t, h, "old", "workflow misconfigured: auth secret unreadable", second)
}
