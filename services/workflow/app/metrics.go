package app

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meterflow/meterflow/platform/telemetry"
	"github.com/meterflow/meterflow/services/workflow/internal/workflow"
)

// runMetrics implements workflow.Metrics with Prometheus.
type runMetrics struct {
	runs     *prometheus.CounterVec
	duration *prometheus.HistogramVec
	n8n      *prometheus.CounterVec
	settled  *prometheus.CounterVec
	// batches and fallbacks describe the batched run writes (ADR 0019).
	batches   *prometheus.HistogramVec
	fallbacks *prometheus.CounterVec
}

// newRunMetrics registers the run metrics on reg. unsettled counts the
// runs past their deadline plus the settle grace whose hold is not final,
// for the gauge computed at scrape.
func newRunMetrics(reg prometheus.Registerer, unsettled func(ctx context.Context) (int64, error)) *runMetrics {
	m := &runMetrics{
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "workflow_runs_total",
			Help: "Runs that reached a final status, by workflow and status.",
		}, []string{"workflow", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "workflow_run_duration_seconds",
			Help:    "Time from the request to n8n to the end of the run, by workflow and status.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300},
		}, []string{"workflow", "status"}),
		n8n: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "workflow_n8n_responses_total",
			Help: "n8n webhook outcomes by workflow and class (2xx, 3xx, 4xx, 5xx, timeout, refused, too_large, error).",
		}, []string{"workflow", "class"}),
	}
	m.settled = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "workflow_overdue_runs_settled_total",
		Help: "Runs the settler finished after their deadline plus WORKFLOW_SETTLE_GRACE, by how their hold ended (captured, released).",
	}, []string{"hold"})
	for _, h := range []workflow.HoldState{workflow.HoldCaptured, workflow.HoldReleased} {
		m.settled.WithLabelValues(string(h)) // exported at 0 from the start, so increase() sees the first one
	}
	m.batches = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "workflow_write_batch_size",
		Help:    "Runs written per batched statement, by kind (create, apply; 1: a write that found no batch running; WORKFLOW_WRITE_BATCH_MAX caps it).",
		Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000},
	}, []string{"kind"})
	m.fallbacks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "workflow_write_batch_fallbacks_total",
		Help: "Batches of run writes that failed as a whole and were written one by one, by kind (create, apply).",
	}, []string{"kind"})
	for _, k := range []string{"create", "apply"} {
		m.fallbacks.WithLabelValues(k)
	}
	reg.MustRegister(m.runs, m.duration, m.n8n, m.settled, m.batches, m.fallbacks,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "workflow_runs_unsettled_past_deadline",
			Help: "Runs past their deadline plus WORKFLOW_SETTLE_GRACE whose hold is neither captured nor released: the settler's backlog (computed at scrape; -1 if the database did not answer).",
		}, telemetry.ReadAtScrape(func(ctx context.Context) (float64, error) {
			n, err := unsettled(ctx)
			return float64(n), err
		})))
	return m
}

// OverdueSettled implements workflow.Metrics.
func (m *runMetrics) OverdueSettled(hold workflow.HoldState) {
	m.settled.WithLabelValues(string(hold)).Inc()
}

// RunFinished implements workflow.Metrics.
func (m *runMetrics) RunFinished(wf string, st workflow.Status, d time.Duration) {
	m.runs.WithLabelValues(wf, string(st)).Inc()
	if d > 0 {
		m.duration.WithLabelValues(wf, string(st)).Observe(d.Seconds())
	}
}

// N8NAnswered implements workflow.Metrics.
func (m *runMetrics) N8NAnswered(wf, class string) {
	m.n8n.WithLabelValues(wf, class).Inc()
}

// WriteBatch records one batch of run writes (postgres.WriteBatches.Observe).
func (m *runMetrics) WriteBatch(kind string, size int, fellBack bool) {
	m.batches.WithLabelValues(kind).Observe(float64(size))
	if fellBack {
		m.fallbacks.WithLabelValues(kind).Inc()
	}
}
