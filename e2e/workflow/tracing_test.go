package workflow_test

import (
	"context"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/meterflow/meterflow/platform/telemetry"
)

// TestRunIsTraced checks the run span's attributes and that the n8n call is
// a client span carrying neither the body, the auth header nor the
// webhook URL's path and query (often the webhook's only credential): only
// its scheme and host. It installs the global tracer provider, so it does
// not run in parallel with itself.
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
	const path = "/webhook/5b0e-secret-path?token=query-secret-77"
	h.createWorkflow(t, "traced", rcv.URL+path, wfOpts{fee: 1, headerName: "X-Key", headerVal: secret})
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
			if v := a.Value.Emit(); strings.Contains(v, secret) || strings.Contains(v, "input-body-9f8e") ||
				strings.Contains(v, "secret-path") || strings.Contains(v, "query-secret") {
				t.Fatalf("span %s attribute %s = %q holds a secret, the body or the URL's path", s.Name(), a.Key, v)
			}
		}
		switch s.Name() {
		case "workflow.StartRun":
			if attrs["run.id"] == run.GetId() {
				runSpan = attrs["user.id"] == userID && attrs["workflow.slug"] == "traced"
			}
		case "n8n webhook":
			httpSpan = httpSpan || attrs["http.response.status_code"] == "200" && attrs["url.scheme"] == "http" &&
				attrs["server.address"] == "127.0.0.1" && s.SpanKind() == trace.SpanKindClient
		}
	}
	if !runSpan || !httpSpan {
		t.Fatalf("run span %v, n8n span %v in %d spans", runSpan, httpSpan, len(rec.Ended()))
	}
}
