package app

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/meterflow/meterflow/platform/outbox"
	"github.com/meterflow/meterflow/platform/telemetry"
)

// relayDrainTimeout bounds the relay's last pass at shutdown, after the
// job workers stopped: what it leaves waits for another replica or the
// next start (nothing is lost, ADR 0021).
const relayDrainTimeout = time.Second

// outboxMetrics implements outbox.RelayMetrics with Prometheus.
type outboxMetrics struct {
	batches  prometheus.Histogram
	events   *prometheus.CounterVec
	failures prometheus.Counter
}

// newOutboxMetrics registers the outbox relay's metrics on reg: batch
// sizes, events handed over by outcome, failed batches, and the backlog's
// age read from pool at scrape.
func newOutboxMetrics(reg prometheus.Registerer, pool *pgxpool.Pool) *outboxMetrics {
	m := &outboxMetrics{
		batches: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "workflow_outbox_batch_size",
			Help:    "Webhook events the outbox relay handed to notify per transaction (WORKFLOW_OUTBOX_BATCH caps it; ADR 0021).",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 5000},
		}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "workflow_outbox_events_total",
			Help: "Webhook events the outbox relay handed to notify, by outcome (published; refused: notify refused the event itself, dropped and logged).",
		}, []string{"outcome"}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "workflow_outbox_batch_failures_total",
			Help: "Outbox relay batches that failed as a whole (notify or the database unavailable) and were retried with backoff.",
		}),
	}
	for _, o := range []string{"published", "refused"} {
		m.events.WithLabelValues(o)
	}
	reg.MustRegister(m.batches, m.events, m.failures,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "workflow_outbox_backlog_age_seconds",
			Help: "How long the oldest webhook event in the outbox table has waited for notify (0: empty; computed at scrape; -1 if the database did not answer).",
		}, telemetry.ReadAtScrape(func(ctx context.Context) (float64, error) {
			age, err := outbox.BacklogAge(ctx, pool)
			return age.Seconds(), err
		})))
	return m
}

// Relayed implements outbox.RelayMetrics.
func (m *outboxMetrics) Relayed(events, refused int) {
	m.batches.Observe(float64(events))
	m.events.WithLabelValues("published").Add(float64(events - refused))
	if refused > 0 {
		m.events.WithLabelValues("refused").Add(float64(refused))
	}
}

// Failed implements outbox.RelayMetrics.
func (m *outboxMetrics) Failed() { m.failures.Inc() }
