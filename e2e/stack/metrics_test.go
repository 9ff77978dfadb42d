package stack

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/meterflow/meterflow/platform/telemetry"
	"github.com/meterflow/meterflow/services/wallet/stripeevents"
)

// metrics is one scrape of a process's /metrics.
type metrics map[string]*dto.MetricFamily

// scrape reads /metrics through the handler the process serves it with
// (the gateway's admin mux, the services' telemetry.MetricsHandler on their
// Registry, as their Serve does on METRICS_ADDR) and parses the text format.
func scrape(t *testing.T, h http.Handler) metrics {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("/metrics: %d %s", rec.Code, rec.Body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatalf("/metrics is not the Prometheus text format: %v", err)
	}
	return fams
}

func (s *Stack) gatewayMetrics(t *testing.T) metrics { return scrape(t, s.Gateway.AdminHandler()) }
func (s *Stack) identityMetrics(t *testing.T) metrics {
	return scrape(t, telemetry.MetricsHandler(s.Identity.Registry))
}
func (s *Stack) walletMetrics(t *testing.T) metrics {
	return scrape(t, telemetry.MetricsHandler(s.Wallet.Registry))
}
func (s *Stack) workflowMetrics(t *testing.T) metrics {
	return scrape(t, telemetry.MetricsHandler(s.Workflow.Registry))
}

// value is the sample of family name whose labels include want (a
// histogram's sample count). ok is false when the family has no such series.
func (m metrics) value(name string, want map[string]string) (v float64, ok bool) {
	fam, found := m[name]
	if !found {
		return 0, false
	}
	for _, s := range fam.GetMetric() {
		if !hasLabels(s, want) {
			continue
		}
		switch {
		case s.Counter != nil:
			v += s.Counter.GetValue()
		case s.Gauge != nil:
			v += s.Gauge.GetValue()
		case s.Histogram != nil:
			v += float64(s.Histogram.GetSampleCount())
		case s.Untyped != nil:
			v += s.Untyped.GetValue()
		}
		ok = true
	}
	return v, ok
}

func hasLabels(s *dto.Metric, want map[string]string) bool {
	n := 0
	for _, l := range s.GetLabel() {
		if w, ok := want[l.GetName()]; ok && w == l.GetValue() {
			n++
		}
	}
	return n == len(want)
}

// metricCase is one expected series value.
type metricCase struct {
	name   string
	labels map[string]string
	want   float64
}

func (m metrics) check(t *testing.T, process string, cases []metricCase) {
	t.Helper()
	for _, c := range cases {
		got, ok := m.value(c.name, c.labels)
		if !ok {
			t.Errorf("%s /metrics has no series %s%v", process, c.name, c.labels)
			continue
		}
		if got != c.want {
			t.Errorf("%s /metrics: %s%v = %v, want %v", process, c.name, c.labels, got, c.want)
		}
	}
}

// gatedReceiver is an n8n stand-in that can hold a call until released, so
// a test can look at the stack while a run is in flight.
type gatedReceiver struct {
	*httptest.Server
	status  atomic.Int64
	hold    atomic.Bool
	entered chan struct{}
	proceed chan struct{}
	once    sync.Once
}

func newGatedReceiver(t *testing.T) *gatedReceiver {
	g := &gatedReceiver{entered: make(chan struct{}, 1), proceed: make(chan struct{})}
	g.status.Store(200)
	g.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		if g.hold.Load() {
			g.entered <- struct{}{}
			<-g.proceed
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(int(g.status.Load()))
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	t.Cleanup(g.Close)
	t.Cleanup(g.release) // runs first: a held call must not block Close
	return g
}

func (g *gatedReceiver) release() { g.once.Do(func() { close(g.proceed) }) }

// TestMetricsAfterTopUpAndRuns reads every process's /metrics after a
// top-up paid by a signed webhook, a refused webhook, a refund, a paid run
// (holds open looked at while it is in flight), a failed run and a
// rate-limited one, and checks that the series an operator alerts on moved
// by exactly what happened.
func TestMetricsAfterTopUpAndRuns(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{RunsPerMinute: 2})
	rc := newGatedReceiver(t)
	admin := s.Admin(t)
	tok, _, userID := s.Signup(t, "metered@example.com", "password-1")
	if r := s.Do(t, Request{Method: "POST", Path: "/v1/admin/workflows", Token: admin, Body: map[string]any{
		"slug": "echo", "name": "Echo", "webhook_url": rc.URL, "fee_cents": 10, "timeout_ms": 5000,
	}}); r.Status != 201 {
		t.Fatalf("create workflow: %d %s", r.Status, r.Body)
	}

	// Money in: a top-up paid through a signed webhook; a forged delivery is
	// refused; then Stripe refunds 500 of it (money out).
	r := s.Do(t, Request{Method: "POST", Path: "/v1/wallet/topups", Token: tok, Body: map[string]any{"amount_cents": 1500}})
	if r.Status != 201 {
		t.Fatalf("topup: %d %s", r.Status, r.Body)
	}
	top := r.JSON(t)
	webhook := func(event []byte, signed bool) Response {
		h := map[string]string{}
		if signed {
			h["Stripe-Signature"] = stripeevents.Sign(event, WebhookSecret, time.Now())
		}
		return s.Do(t, Request{Method: "POST", Path: "/v1/webhooks/stripe", Body: event, Headers: h})
	}
	paid := stripeevents.CheckoutSessionEvent("", "checkout.session.completed", stripeevents.Session{
		ID: top["checkout_session_id"].(string), TopUpID: top["id"].(string), UserID: userID, AmountTotal: 1500,
		Currency: "usd", PaymentStatus: "paid", PaymentIntentID: "pi_metrics_1",
	})
	if r := webhook(paid, true); r.Status != 200 {
		t.Fatalf("webhook: %d %s", r.Status, r.Body)
	}
	wantProblem(t, webhook(paid, false), 400, "invalid_signature")
	if r := webhook(stripeevents.ChargeRefundedEvent("", "ch_metrics_1", "pi_metrics_1", 1500, 500), true); r.Status != 200 {
		t.Fatalf("refund webhook: %d %s", r.Status, r.Body)
	}

	// A paid run, held at n8n while the wallet's open holds are read.
	rc.hold.Store(true)
	type answer struct {
		status int
		body   []byte
		err    error
	}
	answered := make(chan answer, 1)
	go func() {
		// Not s.Do: t.Fatal must not be called from this goroutine.
		req, _ := http.NewRequest(http.MethodPost, s.URL+"/v1/workflows/echo/runs", strings.NewReader(`{"input":{}}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			answered <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		answered <- answer{resp.StatusCode, b, err}
	}()
	select {
	case <-rc.entered:
	case <-time.After(15 * time.Second):
		t.Fatal("the run never reached n8n")
	}
	s.walletMetrics(t).check(t, "wallet (run in flight)", []metricCase{
		{"wallet_open_holds", nil, 1},
		{"wallet_open_holds_cents", nil, 10},
	})
	rc.hold.Store(false)
	rc.release()
	if a := <-answered; a.err != nil || a.status != 200 || !strings.Contains(string(a.body), `"status":"succeeded"`) {
		t.Fatalf("paid run: %d %s %v", a.status, a.body, a.err)
	}

	// A failed run (n8n answers 500: nothing charged), then one over the
	// run budget of 2, which no service sees.
	rc.status.Store(500)
	wantProblem(t, s.Do(t, Request{Method: "POST", Path: "/v1/workflows/echo/runs", Token: tok, Body: map[string]any{"input": map[string]any{}}}), 502, "workflow_failed")
	wantProblem(t, s.Do(t, Request{Method: "POST", Path: "/v1/workflows/echo/runs", Token: tok, Body: map[string]any{"input": map[string]any{}}}), 429, "rate_limited")
	if w := balance(t, s, tok); w["balance_cents"].(float64) != 1500-500-10 {
		t.Fatalf("wallet %v", w)
	}

	runs := "/v1/workflows/{slug}/runs"
	hooks := "/v1/webhooks/stripe"
	s.gatewayMetrics(t).check(t, "gateway", []metricCase{
		// Rate, errors and latency per route.
		{"gateway_http_requests_total", map[string]string{"route": runs, "method": "POST", "status": "200"}, 1},
		{"gateway_http_requests_total", map[string]string{"route": runs, "method": "POST", "status": "502"}, 1},
		{"gateway_http_requests_total", map[string]string{"route": runs, "method": "POST", "status": "429"}, 1},
		{"gateway_http_requests_total", map[string]string{"route": hooks, "method": "POST", "status": "200"}, 2},
		{"gateway_http_requests_total", map[string]string{"route": hooks, "method": "POST", "status": "400"}, 1},
		{"gateway_http_requests_total", map[string]string{"route": "/v1/wallet/topups", "method": "POST", "status": "201"}, 1},
		{"gateway_http_request_duration_seconds", map[string]string{"route": runs}, 3},
		{"gateway_http_request_duration_seconds", map[string]string{"route": hooks}, 3},
		// Rate limits: one run refused; Redis up, so no fallback.
		{"gateway_ratelimit_rejections_total", map[string]string{"class": "runs"}, 1},
		{"gateway_ratelimit_fallback_active", nil, 0},
		{"gateway_ratelimit_redis_errors_total", nil, 0},
	})
	s.workflowMetrics(t).check(t, "workflow", []metricCase{
		{"workflow_runs_total", map[string]string{"workflow": "echo", "status": "succeeded"}, 1},
		{"workflow_runs_total", map[string]string{"workflow": "echo", "status": "failed"}, 1},
		{"workflow_run_duration_seconds", map[string]string{"workflow": "echo", "status": "succeeded"}, 1},
		{"workflow_n8n_responses_total", map[string]string{"workflow": "echo", "class": "2xx"}, 1},
		{"workflow_n8n_responses_total", map[string]string{"workflow": "echo", "class": "5xx"}, 1},
		// The rate-limited run never reached the service.
		{"grpc_server_handled_total", map[string]string{"method": "/meterflow.workflow.v1.WorkflowService/StartRun"}, 2},
	})
	s.walletMetrics(t).check(t, "wallet", []metricCase{
		{"wallet_ledger_cents_total", map[string]string{"kind": "deposit", "direction": "credit"}, 1500},
		{"wallet_ledger_cents_total", map[string]string{"kind": "fee", "direction": "debit"}, 10},
		{"wallet_ledger_cents_total", map[string]string{"kind": "withdrawal", "direction": "debit"}, 500},
		{"wallet_open_holds", nil, 0},
		{"wallet_open_holds_cents", nil, 0},
		{"wallet_stripe_events_total", map[string]string{"type": "checkout.session.completed", "result": "applied"}, 1},
		{"wallet_stripe_events_total", map[string]string{"type": "charge.refunded", "result": "applied"}, 1},
		{"wallet_stripe_events_total", map[string]string{"type": "unknown", "result": "invalid_signature"}, 1},
		{"grpc_server_handled_total", map[string]string{"method": "/meterflow.wallet.v1.WalletService/Reserve", "code": "OK"}, 2},
		{"grpc_server_handled_total", map[string]string{"method": "/meterflow.wallet.v1.WalletService/Capture", "code": "OK"}, 1},
		{"grpc_server_handled_total", map[string]string{"method": "/meterflow.wallet.v1.WalletService/Release", "code": "OK"}, 1},
	})
	s.identityMetrics(t).check(t, "identity", []metricCase{
		{"grpc_server_handled_total", map[string]string{"method": "/meterflow.identity.v1.IdentityService/SignUp", "code": "OK"}, 1},
		{"identity_signups_total", nil, 1},
		{"identity_logins_total", map[string]string{"result": "success"}, 1}, // the admin's
	})
	for name, m := range map[string]metrics{"gateway": s.gatewayMetrics(t), "identity": s.identityMetrics(t), "wallet": s.walletMetrics(t), "workflow": s.workflowMetrics(t)} {
		if _, ok := m["go_goroutines"]; !ok {
			t.Errorf("%s /metrics lacks the Go collector", name)
		}
		if name != "gateway" {
			if _, ok := m.value("grpc_server_handling_seconds", nil); !ok {
				t.Errorf("%s /metrics lacks grpc_server_handling_seconds", name)
			}
		}
	}
}

// TestMetricsWithRedisDown: with Redis unreachable the whole stack still
// serves, /readyz says degraded, and the gateway's /metrics shows the
// fallback limiter in use.
func TestMetricsWithRedisDown(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{RedisURL: "redis://127.0.0.1:1/0"})
	tok, _, _ := s.Signup(t, "noredis@example.com", "password-1")
	if r := s.Do(t, Request{Method: "GET", Path: "/v1/me", Token: tok}); r.Status != 200 {
		t.Fatalf("me: %d %s", r.Status, r.Body)
	}
	r := s.Do(t, Request{Method: "GET", Path: "/readyz"})
	if r.Status != 200 || !strings.Contains(string(r.Body), `"degraded"`) {
		t.Fatalf("readyz: %d %s", r.Status, r.Body)
	}
	m := s.gatewayMetrics(t)
	m.check(t, "gateway", []metricCase{
		{"gateway_ratelimit_fallback_active", nil, 1},
		{"gateway_ratelimit_fallback_total", map[string]string{"class": "auth"}, 1},
		{"gateway_ratelimit_fallback_total", map[string]string{"class": "api"}, 1},
		{"gateway_http_requests_total", map[string]string{"route": "/v1/me", "method": "GET", "status": "200"}, 1},
	})
	if v, _ := m.value("gateway_ratelimit_redis_errors_total", nil); v < 1 {
		t.Errorf("gateway_ratelimit_redis_errors_total = %v, want at least 1", v)
	}
}
