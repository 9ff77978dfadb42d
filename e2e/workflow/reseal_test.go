package workflow_test

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/meterflow/meterflow/platform/callauth/authtest"
	"github.com/meterflow/meterflow/platform/secretbox"
	workflowv1 "github.com/meterflow/meterflow/proto/gen/meterflow/workflow/v1"
	"github.com/meterflow/meterflow/services/workflow/app"
)

// replica returns the configuration of another workflow process on h's
// database and wallet, with its own WORKFLOW_SECRETS_KEY and previous keys.
func replica(t testing.TB, h *harness, key []byte, previous ...[]byte) app.Config {
	t.Helper()
	cfg, err := app.ConfigFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	cfg.DatabaseURL, cfg.WalletAddr, cfg.Keys = h.dbURL, h.walletAdr, h.keys
	cfg.InternalAuthSecret = []byte(authtest.Secret)
	cfg.MetricsAddr, cfg.AllowPrivate, cfg.ShutdownGrace = "", true, 5*time.Second
	cfg.SecretsKey, cfg.PreviousSecretsKeys = key, previous
	return cfg
}

// TestSecretsKeyRotation: WORKFLOW_SECRETS_KEY rotates by key id. With the
// new key current and the old one in WORKFLOW_SECRETS_KEYS_PREVIOUS,
// values sealed under the old key still open; `workflow reseal` seals them
// again under the new key (once: a second pass finds them current), after
// which the old key can go. A value no configured key opens is reported,
// never dropped (regression: the key could not be rotated at all).
func TestSecretsKeyRotation(t *testing.T) {
	t.Parallel()
	h := setup(t) // seals with the development key
	oldKey, err := secretbox.ParseKey(app.DevSecretsKey)
	if err != nil {
		t.Fatal(err)
	}
	newKey := bytes.Repeat([]byte{42}, secretbox.KeySize)
	rcv := newReceiver(t, answerJSON)
	h.createWorkflow(t, "sealed", rcv.URL, wfOpts{fee: 10, headerName: "X-N8N-Key", headerVal: "n8n-secret-1"})

	// The rotation: the new key current, the old one previous.
	rotating := replica(t, h, newKey, oldKey)
	res, err := app.Reseal(context.Background(), rotating)
	if err != nil || res.Resealed != 1 || res.Current != 0 || len(res.Unreadable) != 0 || res.KeyID != secretbox.KeyID(newKey) {
		t.Fatalf("reseal = %+v, %v", res, err)
	}
	if res, err := app.Reseal(context.Background(), rotating); err != nil || res.Resealed != 0 || res.Current != 1 {
		t.Fatalf("second reseal = %+v, %v", res, err)
	}
	audit, err := h.wf.AdminListAuditEvents(h.adminCtx, &workflowv1.AdminListAuditEventsRequest{TargetId: "sealed"})
	if err != nil || !slices.ContainsFunc(audit.GetEvents(), func(e *workflowv1.AuditEvent) bool { return e.GetAction() == "workflow.reseal" }) {
		t.Fatalf("no workflow.reseal audit event: %v %v", audit.GetEvents(), err)
	}

	// A replica with the new key alone sends the same secret to n8n.
	a, err := app.New(context.Background(), replica(t, h, newKey), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, a.Serve, a.Close)
	client := workflowv1.NewWorkflowServiceClient(dial(t, addr, "workflow"))
	userID, ctx := h.user(t)
	h.fund(t, userID, 100)
	run, err := client.StartRun(ctx, &workflowv1.StartRunRequest{Workflow: "sealed", InputJson: []byte(`{}`), IdempotencyKey: uuid.NewString()})
	if err != nil || run.GetRun().GetStatus() != "succeeded" {
		t.Fatalf("run with the new key only: %v, %v", run.GetRun(), err)
	}
	if got := rcv.lastHeader().Get("X-N8N-Key"); got != "n8n-secret-1" {
		t.Fatalf("n8n got header %q", got)
	}

	// A key nobody configured: the value is reported as unreadable.
	lost := replica(t, h, bytes.Repeat([]byte{7}, secretbox.KeySize))
	if res, err := app.Reseal(context.Background(), lost); err != nil || !slices.Equal(res.Unreadable, []string{"sealed"}) || res.Resealed != 0 {
		t.Fatalf("reseal without the key = %+v, %v", res, err)
	}
}
