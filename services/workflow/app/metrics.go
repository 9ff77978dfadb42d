package app

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meterflow/meterflow/services/workflow/internal/workflow"
)

// runMetrics implements workflow.Metrics with Prometheus.
type runMetrics struct {
	runs     *prometheus.CounterVec
	duration *prometheus.HistogramVec
	n8n      *prometheus.CounterVec
}

func newRunMetrics(reg prometheus.Registerer) *runMetrics {
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
	reg.MustRegister(m.runs, m.duration, m.n8n)
	return m
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
