package app

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meterflow/meterflow/services/notify/internal/notify"
)

// emailMetrics implements notify.Metrics with Prometheus.
type emailMetrics struct {
	emails   *prometheus.CounterVec
	failures *prometheus.CounterVec
}

// queuedStats reads the backlog: how many emails are queued and how long
// the oldest has waited.
type queuedStats func(ctx context.Context) (int64, time.Duration, error)

// newEmailMetrics registers the email metrics on reg; the queue gauges
// are read from the database at scrape (-1 when it does not answer).
func newEmailMetrics(reg prometheus.Registerer, stats queuedStats) *emailMetrics {
	m := &emailMetrics{
		emails: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "notify_emails_total",
			Help: "Emails that reached a final status, by template and status (sent, failed, dropped).",
		}, []string{"template", "status"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "notify_smtp_failures_total",
			Help: "Failed SMTP attempts by template and kind (temporary: retried; permanent: the server refused the recipient or content).",
		}, []string{"template", "kind"}),
	}
	for _, t := range notify.Templates { // exported at 0 from the start, so increase() sees the first one
		for _, st := range []notify.Status{notify.StatusSent, notify.StatusFailed, notify.StatusDropped} {
			m.emails.WithLabelValues(t.Name, string(st))
		}
		m.failures.WithLabelValues(t.Name, "temporary")
		m.failures.WithLabelValues(t.Name, "permanent")
	}
	read := func(pick func(n int64, age time.Duration) float64) func() float64 {
		return func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			n, age, err := stats(ctx)
			if err != nil {
				return -1
			}
			return pick(n, age)
		}
	}
	reg.MustRegister(m.emails, m.failures,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "notify_emails_queued",
			Help: "Emails stored and not yet sent, failed or dropped (computed at scrape; -1 if the database did not answer).",
		}, read(func(n int64, _ time.Duration) float64 { return float64(n) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "notify_email_queue_oldest_age_seconds",
			Help: "How long the oldest queued email has waited since it was stored; 0 when none waits (computed at scrape; -1 if the database did not answer).",
		}, read(func(_ int64, age time.Duration) float64 { return age.Seconds() })))
	return m
}

// Finished implements notify.Metrics.
func (m *emailMetrics) Finished(template string, st notify.Status) {
	m.emails.WithLabelValues(template, string(st)).Inc()
}

// SendFailed implements notify.Metrics.
func (m *emailMetrics) SendFailed(template string, temporary bool) {
	kind := "permanent"
	if temporary {
		kind = "temporary"
	}
	m.failures.WithLabelValues(template, kind).Inc()
}
