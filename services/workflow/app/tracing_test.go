package app_test

import (
	"context"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/meterflow/meterflow/platform/telemetry"
)

// TestRunIsTraced checks the run span's attributes and that the n8n call is
// a client span carrying neither the body nor the auth header. It installs
// the global tracer provider, so it does not run in parallel with itself.
func TestRunIsTraced(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	shutdown, err := telemetry.SetupTracing(context.Background(), "workflow-test", rec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = shutdown(context.Background()) })

	h := setup(t)
	const secret = "trace-secret-41c2"
	rcv := newReceiver(t, answerJSON)
	h.createWorkflow(t, "traced", rcv.URL, wfOpts{fee: 1, headerName: "X-Key", headerVal: secret})
	userID, ctx := h.user(t)
	h.fund(t, userID, 10)
	run, err := startRun(ctx, h, "traced", `{"private":"input-body-9f8e"}`, "", false)
	if err != nil || run.GetStatus() != "succeeded" {
		t.Fatalf("run = %v, %v", run, err)
	}
	if err := shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}

	var runSpan, httpSpan bool
	for _, s := range rec.Ended() {
		attrs := map[string]string{}
		for _, a := range s.Attributes() {
			attrs[string(a.Key)] = a.Value.Emit()
			if strings.Contains(a.Value.Emit(), secret) || strings.Contains(a.Value.Emit(), "input-body-9f8e") {
				t.Fatalf("span %s attribute %s holds a secret or the body", s.Name(), a.Key)
			}
		}
		switch s.Name() {
		case "workflow.StartRun":
			if attrs["run.id"] == run.GetId() {
				runSpan = attrs["user.id"] == userID && attrs["workflow.slug"] == "traced"
			}
		case "n8n webhook":
			httpSpan = httpSpan || attrs["http.response.status_code"] == "200"
		}
	}
	if !runSpan || !httpSpan {
		t.Fatalf("run span %v, n8n span %v in %d spans", runSpan, httpSpan, len(rec.Ended()))
	}
}
