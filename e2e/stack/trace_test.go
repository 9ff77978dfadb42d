package stack

import (
	"context"
	"crypto/rand"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/meterflow/meterflow/platform/telemetry"
)

var (
	tracingOnce sync.Once
	spans       *tracetest.InMemoryExporter
	tracingErr  error
)

// recordSpans installs, once for the test binary, the global tracer provider
// every in-process service shares (as each binary's main does with
// telemetry.SetupTracing) with an in-memory exporter. The provider is
// process-wide, so parallel tests' spans land there too: callers select
// their spans by the trace id they sent.
func recordSpans(t *testing.T) *tracetest.InMemoryExporter {
	t.Helper()
	tracingOnce.Do(func() {
		spans = tracetest.NewInMemoryExporter()
		_, tracingErr = telemetry.SetupTracing(context.Background(), "stacktest", sdktrace.NewSimpleSpanProcessor(spans))
	})
	if tracingErr != nil {
		t.Fatal(tracingErr)
	}
	return spans
}

// traceparent returns a W3C traceparent header naming a fresh trace, and
// the trace and the (remote, never recorded) parent span ids it names.
func traceparent() (string, trace.TraceID, trace.SpanID) {
	var tid trace.TraceID
	var sid trace.SpanID
	_, _ = rand.Read(tid[:])
	_, _ = rand.Read(sid[:])
	return fmt.Sprintf("00-%s-%s-01", tid, sid), tid, sid
}

// spanTree is the recorded spans of one trace.
type spanTree struct {
	spans    []tracetest.SpanStub
	children map[trace.SpanID][]tracetest.SpanStub
}

func newSpanTree(all []tracetest.SpanStub, tid trace.TraceID) spanTree {
	tr := spanTree{children: map[trace.SpanID][]tracetest.SpanStub{}}
	for _, s := range all {
		if s.SpanContext.TraceID() == tid {
			tr.spans = append(tr.spans, s)
		}
	}
	slices.SortFunc(tr.spans, func(a, b tracetest.SpanStub) int { return a.StartTime.Compare(b.StartTime) })
	for _, s := range tr.spans {
		tr.children[s.Parent.SpanID()] = append(tr.children[s.Parent.SpanID()], s)
	}
	return tr
}

// child returns the first child of parent (by start time) with that name
// and kind, after the time after.
func (tr spanTree) child(parent trace.SpanID, name string, kind trace.SpanKind, after time.Time) (tracetest.SpanStub, bool) {
	for _, s := range tr.children[parent] {
		if s.Name == name && s.SpanKind == kind && !s.StartTime.Before(after) {
			return s, true
		}
	}
	return tracetest.SpanStub{}, false
}

// dbChildren counts the Postgres (otelpgx) spans directly under parent.
func (tr spanTree) dbChildren(parent trace.SpanID) int {
	n := 0
	for _, s := range tr.children[parent] {
		if s.InstrumentationScope.Name == "github.com/exaring/otelpgx" && s.SpanKind == trace.SpanKindClient {
			n++
		}
	}
	return n
}

// String draws the tree for failure messages and -v logs.
func (tr spanTree) String() string {
	var b strings.Builder
	ids := map[trace.SpanID]bool{}
	for _, s := range tr.spans {
		ids[s.SpanContext.SpanID()] = true
	}
	var draw func(parent trace.SpanID, depth int)
	draw = func(parent trace.SpanID, depth int) {
		for _, s := range tr.children[parent] {
			fmt.Fprintf(&b, "%s%s [%s]\n", strings.Repeat("  ", depth), s.Name, s.SpanKind)
			draw(s.SpanContext.SpanID(), depth+1)
		}
	}
	for parent := range tr.children {
		if !ids[parent] {
			draw(parent, 0)
		}
	}
	return b.String()
}

func attrs(s tracetest.SpanStub) map[attribute.Key]attribute.Value {
	m := map[attribute.Key]attribute.Value{}
	for _, a := range s.Attributes {
		m[a.Key] = a.Value
	}
	return m
}

// orphans returns the spans whose parent is neither a recorded span of the
// trace nor the caller's remote span.
func (tr spanTree) orphans(remote trace.SpanID) []tracetest.SpanStub {
	ids := map[trace.SpanID]bool{remote: true}
	for _, s := range tr.spans {
		ids[s.SpanContext.SpanID()] = true
	}
	var out []tracetest.SpanStub
	for _, s := range tr.spans {
		if !ids[s.Parent.SpanID()] {
			out = append(out, s)
		}
	}
	return out
}

// awaitTrace waits until the trace's root span (the gateway's server span,
// child of the remote parent we sent) is recorded with what ready demands
// and no span lacks its parent. Server spans end after their answer is on
// the wire, so the client can see the answer (and a span's children can be
// exported) a moment before the span itself is.
func awaitTrace(t *testing.T, exp *tracetest.InMemoryExporter, tid trace.TraceID, parent trace.SpanID, ready func(spanTree) bool) spanTree {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		tr := newSpanTree(exp.GetSpans(), tid)
		if len(tr.children[parent]) > 0 && tr.orphans(parent) == nil && ready(tr) {
			return tr
		}
		if time.Now().After(deadline) {
			t.Fatalf("trace %s incomplete after 10s:\n%s", tid, tr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// serversEnded is ready once a server span of each name is recorded:
// server spans end last in their process, after their children.
func serversEnded(names ...string) func(spanTree) bool {
	return func(tr spanTree) bool {
		for _, name := range names {
			if !slices.ContainsFunc(tr.spans, func(s tracetest.SpanStub) bool {
				return s.Name == name && s.SpanKind == trace.SpanKindServer
			}) {
				return false
			}
		}
		return true
	}
}

// assertOneTrace checks that every span of tr hangs, through recorded
// spans, from the single root under the remote parent: no orphan, no second
// root, so the request is one trace end to end.
func assertOneTrace(t *testing.T, tr spanTree, parent trace.SpanID) tracetest.SpanStub {
	t.Helper()
	roots := tr.children[parent]
	if len(roots) != 1 {
		t.Fatalf("%d spans under the caller's span, want the gateway's server span only:\n%s", len(roots), tr)
	}
	for _, s := range tr.orphans(parent) {
		t.Errorf("span %q has a parent outside the trace's recorded spans", s.Name)
	}
	return roots[0]
}

// assertNoLeak fails when a span name, attribute, event or status of the
// trace contains any of the secrets.
func assertNoLeak(t *testing.T, tr spanTree, secrets ...string) {
	t.Helper()
	for _, s := range tr.spans {
		texts := []string{s.Name, s.Status.Description}
		for _, a := range s.Attributes {
			texts = append(texts, a.Value.Emit())
		}
		for _, e := range s.Events {
			texts = append(texts, e.Name)
			for _, a := range e.Attributes {
				texts = append(texts, a.Value.Emit())
			}
		}
		for _, txt := range texts {
			for _, secret := range secrets {
				if strings.Contains(txt, secret) {
					t.Errorf("span %q carries a secret or a request body (%q)", s.Name, secret)
				}
			}
		}
	}
}

// TestRunIsOneTrace: a paid sync run is one trace from the gateway's HTTP
// span through the workflow service, the wallet's Reserve (with its
// Postgres spans), the n8n call and the wallet's Capture, with the run's
// ids on the run span and no secret or body in any span.
func TestRunIsOneTrace(t *testing.T) {
	t.Parallel()
	exp := recordSpans(t)
	s := Start(t, Options{RunsPerMinute: 100})
	rc := newReceiver(t)
	admin := s.Admin(t)
	const password = "trace-password-1"
	tok, _, userID := s.Signup(t, "traced@example.com", password)
	authSecret := "auth-secret-" + RandomHex()
	if r := s.Do(t, Request{Method: "POST", Path: "/v1/admin/workflows", Token: admin, Body: map[string]any{
		"slug": "echo", "name": "Echo", "webhook_url": rc.URL + "/webhook/echo",
		"auth_header_name": "X-N8N-Auth", "auth_header_value": authSecret, "fee_cents": 10, "timeout_ms": 5000,
	}}); r.Status != 201 {
		t.Fatalf("create workflow: %d %s", r.Status, r.Body)
	}
	if r := s.Do(t, Request{Method: "POST", Path: "/v1/admin/users/" + userID + "/adjustments", Token: admin,
		Body: map[string]any{"amount_cents": 100, "reason": "trace test"}, Headers: map[string]string{"Idempotency-Key": "adj-trace"}}); r.Status != 201 {
		t.Fatalf("adjustment: %d %s", r.Status, r.Body)
	}

	header, tid, parent := traceparent()
	bodyMarker := "input-body-" + RandomHex()
	r := s.Do(t, Request{Method: "POST", Path: "/v1/workflows/echo/runs", Token: tok,
		Body: map[string]any{"input": map[string]any{"note": bodyMarker}}, Headers: map[string]string{"traceparent": header}})
	if r.Status != 200 || r.JSON(t)["status"] != "succeeded" {
		t.Fatalf("run: %d %s", r.Status, r.Body)
	}
	runID := r.JSON(t)["id"].(string)

	const (
		startRun = "meterflow.workflow.v1.WorkflowService/StartRun"
		reserve  = "meterflow.wallet.v1.WalletService/Reserve"
		capture  = "meterflow.wallet.v1.WalletService/Capture"
	)
	server, client := trace.SpanKindServer, trace.SpanKindClient
	tr := awaitTrace(t, exp, tid, parent, serversEnded("POST /v1/workflows/{slug}/runs", startRun, reserve, capture))
	t.Logf("run trace:\n%s", tr)

	root := assertOneTrace(t, tr, parent)
	if root.Name != "POST /v1/workflows/{slug}/runs" || root.SpanKind != server {
		t.Fatalf("root span %q (%s), want the gateway's server span", root.Name, root.SpanKind)
	}
	if a := attrs(root); a["http.route"].AsString() != "/v1/workflows/{slug}/runs" || a["http.response.status_code"].AsInt64() != 200 {
		t.Errorf("gateway span attributes %v", a)
	}
	find := func(parent tracetest.SpanStub, name string, kind trace.SpanKind, after time.Time) tracetest.SpanStub {
		t.Helper()
		s, ok := tr.child(parent.SpanContext.SpanID(), name, kind, after)
		if !ok {
			t.Fatalf("no %s span %q under %q (after %s):\n%s", kind, name, parent.Name, after.Format(time.RFC3339Nano), tr)
		}
		return s
	}
	wfClient := find(root, startRun, client, time.Time{})
	wfServer := find(wfClient, startRun, server, time.Time{})
	if tr.dbChildren(wfServer.SpanContext.SpanID()) == 0 {
		t.Errorf("no Postgres span under the workflow's StartRun:\n%s", tr)
	}
	runSpan := find(wfServer, "workflow.StartRun", trace.SpanKindInternal, time.Time{})
	a := attrs(runSpan)
	if a["run.id"].AsString() != runID || a["user.id"].AsString() != userID || a["workflow.slug"].AsString() != "echo" {
		t.Errorf("run span attributes %v, want run.id %s user.id %s workflow.slug echo", a, runID, userID)
	}

	// Under the run span, in this order: Reserve, the n8n call, Capture.
	resClient := find(runSpan, reserve, client, time.Time{})
	resServer := find(resClient, reserve, server, time.Time{})
	if tr.dbChildren(resServer.SpanContext.SpanID()) == 0 {
		t.Errorf("no Postgres span under the wallet's Reserve:\n%s", tr)
	}
	n8n := find(runSpan, "n8n webhook", client, resClient.EndTime)
	if a := attrs(n8n); a["http.response.status_code"].AsInt64() != 200 {
		t.Errorf("n8n span attributes %v", a)
	}
	capClient := find(runSpan, capture, client, n8n.EndTime)
	capServer := find(capClient, capture, server, time.Time{})
	if tr.dbChildren(capServer.SpanContext.SpanID()) == 0 {
		t.Errorf("no Postgres span under the wallet's Capture:\n%s", tr)
	}

	// The n8n webhook continues the trace too.
	rc.mu.Lock()
	got := rc.last.Get("Traceparent")
	rc.mu.Unlock()
	if !strings.Contains(got, tid.String()) {
		t.Errorf("n8n saw traceparent %q, want trace %s", got, tid)
	}
	assertNoLeak(t, tr, authSecret, bodyMarker, tok, password)
}

// TestReadIsOneTrace: an ordinary read is gateway → service → Postgres in
// one trace.
func TestReadIsOneTrace(t *testing.T) {
	t.Parallel()
	exp := recordSpans(t)
	s := Start(t, Options{})
	tok, _, _ := s.Signup(t, "reader@example.com", "password-1")

	header, tid, parent := traceparent()
	if r := s.Do(t, Request{Method: "GET", Path: "/v1/wallet", Token: tok, Headers: map[string]string{"traceparent": header}}); r.Status != 200 {
		t.Fatalf("wallet: %d %s", r.Status, r.Body)
	}
	const getWallet = "meterflow.wallet.v1.WalletService/GetWallet"
	tr := awaitTrace(t, exp, tid, parent, serversEnded("GET /v1/wallet", getWallet))
	t.Logf("read trace:\n%s", tr)
	root := assertOneTrace(t, tr, parent)
	if root.Name != "GET /v1/wallet" {
		t.Fatalf("root span %q", root.Name)
	}
	c, ok := tr.child(root.SpanContext.SpanID(), getWallet, trace.SpanKindClient, time.Time{})
	if !ok {
		t.Fatalf("no GetWallet client span under the gateway's:\n%s", tr)
	}
	srv, ok := tr.child(c.SpanContext.SpanID(), getWallet, trace.SpanKindServer, time.Time{})
	if !ok {
		t.Fatalf("no GetWallet server span under its client span:\n%s", tr)
	}
	if tr.dbChildren(srv.SpanContext.SpanID()) == 0 {
		t.Fatalf("no Postgres span under the wallet's GetWallet:\n%s", tr)
	}
	assertNoLeak(t, tr, tok)
}
