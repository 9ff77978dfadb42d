package app

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meterflow/meterflow/platform/telemetry"
	"github.com/meterflow/meterflow/services/notify/internal/notify"
	"github.com/meterflow/meterflow/services/notify/internal/postgres"
	"github.com/meterflow/meterflow/services/notify/internal/webhooks"
)

// emailMetrics implements notify.Metrics with Prometheus.
type emailMetrics struct {
	emails   *prometheus.CounterVec
	failures *prometheus.CounterVec
}

// backlog reads what the queue gauges show: the emails not final yet
// (postgres.Store.QueueStats) and the age of the oldest send due
// (postgres.Store.OldestDue).
type backlog interface {
	QueueStats(ctx context.Context) (postgres.QueueStats, error)
	OldestDue(ctx context.Context) (time.Duration, error)
}

// newEmailMetrics registers the email metrics on reg; the queue gauges
// are read from the database at scrape (-1 when it does not answer).
func newEmailMetrics(reg prometheus.Registerer, store backlog) *emailMetrics {
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
	stats := func(pick func(postgres.QueueStats) float64) func() float64 {
		return telemetry.ReadAtScrape(func(ctx context.Context) (float64, error) {
			st, err := store.QueueStats(ctx)
			return pick(st), err
		})
	}
	reg.MustRegister(m.emails, m.failures,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "notify_emails_queued",
			Help: "Emails stored and not yet sent, failed or dropped (computed at scrape; -1 if the database did not answer).",
		}, stats(func(st postgres.QueueStats) float64 { return float64(st.Queued) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "notify_email_oldest_queued_age_seconds",
			Help: "How long the oldest email not sent yet has waited since it was stored, retries included; 0 when none (computed at scrape; -1 if the database did not answer).",
		}, stats(func(st postgres.QueueStats) float64 { return st.OldestQueued.Seconds() })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "email_outbox_oldest_due_age_seconds",
			Help: "How long the oldest email due for an attempt (its first, or a retry whose time has come) has waited for a worker; 0 when none (computed at scrape; -1 if the database did not answer).",
		}, telemetry.ReadAtScrape(func(ctx context.Context) (float64, error) {
			age, err := store.OldestDue(ctx)
			return age.Seconds(), err
		})))
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

// webhookMetrics implements webhooks.Metrics with Prometheus.
type webhookMetrics struct {
	attempts   *prometheus.CounterVec
	deliveries *prometheus.CounterVec
	disabled   *prometheus.CounterVec
}

// newWebhookMetrics registers the webhook metrics on reg; the due gauge is
// read from the database at scrape (-1 when it does not answer).
func newWebhookMetrics(reg prometheus.Registerer, oldestDue func(context.Context) (time.Duration, error)) *webhookMetrics {
	m := &webhookMetrics{
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "webhook_attempts_total",
			Help: "Webhook delivery attempts by result (success, http_error, transport_error, blocked).",
		}, []string{"result"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "webhook_deliveries_total",
			Help: "Webhook deliveries that reached a final outcome (succeeded, failed).",
		}, []string{"outcome"}),
		disabled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "webhook_endpoints_disabled_total",
			Help: "Webhook endpoints disabled by the deliverer, by why (gone: a 410 answer; failing: 5 days of failed attempts).",
		}, []string{"reason"}),
	}
	for _, r := range []string{"success", "http_error", "transport_error", "blocked"} {
		m.attempts.WithLabelValues(r)
	}
	for _, o := range []webhooks.Status{webhooks.StatusSucceeded, webhooks.StatusFailed} {
		m.deliveries.WithLabelValues(string(o))
	}
	m.disabled.WithLabelValues("gone")
	m.disabled.WithLabelValues("failing")
	reg.MustRegister(m.attempts, m.deliveries, m.disabled,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "webhook_delivery_oldest_due_age_seconds",
			Help: "How long the oldest pending webhook delivery whose attempt is due (its first, or a retry whose time has come) has waited for a worker; 0 when none (computed at scrape; -1 if the database did not answer).",
		}, func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			d, err := oldestDue(ctx)
			if err != nil {
				return -1
			}
			return d.Seconds()
		}))
	return m
}

// Attempted implements webhooks.Metrics.
func (m *webhookMetrics) Attempted(result string) { m.attempts.WithLabelValues(result).Inc() }

// Finished implements webhooks.Metrics.
func (m *webhookMetrics) Finished(st webhooks.Status) { m.deliveries.WithLabelValues(string(st)).Inc() }

// Disabled implements webhooks.Metrics.
func (m *webhookMetrics) Disabled(why string) { m.disabled.WithLabelValues(why).Inc() }
