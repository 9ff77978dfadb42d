package app_test

import (
	"context"
	"strings"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/meterflow/meterflow/platform/telemetry"
)

// TestSendContinuesTheCallersTrace: the SendEmail call's trace goes on
// through the queued job to the SMTP send, so one trace runs from the
// producer's request (a sign-up) to the mail server. It installs the
// global tracer provider, so it does not run in parallel with itself.
func TestSendContinuesTheCallersTrace(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	shutdown, err := telemetry.SetupTracing(context.Background(), "notify-test", rec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = shutdown(context.Background()) })
	h := setup(t)
	user := h.identity.addUser("ada@example.com", true)

	ctx, producer := otel.Tracer("test").Start(context.Background(), "identity.SignUp")
	res, err := h.notify.SendEmail(ctx, verifyEmail("identity:1", user, "tok-trace"))
	producer.End()
	if err != nil {
		t.Fatal(err)
	}
	h.waitEmail(t, res.GetEmailId(), final)
	h.waitJobs(t)
	h.stop()
	if err := shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}

	want := producer.SpanContext().TraceID()
	type span struct {
		name string
		kind trace.SpanKind
	}
	found := map[span]bool{}
	for _, s := range rec.Ended() {
		if s.SpanContext().TraceID() != want {
			continue
		}
		found[span{s.Name(), s.SpanKind()}] = true
		for _, a := range s.Attributes() {
			if v := a.Value.Emit(); strings.Contains(v, "tok-trace") || strings.Contains(v, "ada@example.com") {
				t.Errorf("span %s attribute %s = %q holds the token or the address", s.Name(), a.Key, v)
			}
		}
	}
	for _, w := range []span{
		{"meterflow.notify.v1.NotifyService/SendEmail", trace.SpanKindServer},
		{"notify.Deliver", trace.SpanKindInternal},
		{"meterflow.identity.v1.IdentityService/GetUserContact", trace.SpanKindClient},
		{"smtp send", trace.SpanKindClient},
	} {
		if !found[w] {
			t.Errorf("span %s (%s) not in the producer's trace: %v", w.name, w.kind, found)
		}
	}
}
