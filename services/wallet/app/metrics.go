package app

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meterflow/meterflow/platform/telemetry"
	"github.com/meterflow/meterflow/services/wallet/internal/postgres"
	"github.com/meterflow/meterflow/services/wallet/internal/wallet"
)

// walletMetrics implements wallet.Metrics with Prometheus counters.
type walletMetrics struct {
	automationMetrics
	booked   *prometheus.CounterVec
	webhooks *prometheus.CounterVec
	unlinked *prometheus.CounterVec
	expired  prometheus.Counter
	lag      prometheus.Histogram
	// batches and fallbacks: the reserve batches (ADR 0017).
	batches   prometheus.Histogram
	fallbacks prometheus.Counter
	// settleBatches and settleFallbacks: the capture and release batches
	// (ADR 0018).
	settleBatches   prometheus.Histogram
	settleFallbacks prometheus.Counter
}

func newWalletMetrics(reg prometheus.Registerer, store *postgres.Store) *walletMetrics {
	m := &walletMetrics{
		booked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wallet_ledger_cents_total",
			Help: "Cents booked to the ledger, by kind (absolute values: deposits, fees, withdrawals, chargebacks, adjustments).",
		}, []string{"kind", "direction"}),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wallet_stripe_events_total",
			Help: "Stripe webhook events handled, by type and result (applied, no_change, duplicate, unmatched, ignored, parked, invalid_signature, malformed, error).",
		}, []string{"type", "result"}),
		unlinked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wallet_stripe_unlinked_payments_total",
			Help: "Refunds and lost disputes whose PaymentIntent was not linked to a top-up yet, by result: matched (found through its metadata and applied), not_ours, retry (Stripe's API did not answer: refused so Stripe retries).",
		}, []string{"result"}),
	}
	m.expired = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "wallet_expired_holds_released_total",
		Help: "Holds released by the expiry sweeper: reserved money that neither a capture nor a release freed in time.",
	})
	m.lag = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "wallet_stripe_event_lag_seconds",
		Help:    "Time from a Stripe event's creation to its handling, per signature-verified event handled (redeliveries of one already handled excluded).",
		Buckets: []float64{1, 5, 15, 60, 300, 900, 3600, 21600, 86400},
	})
	m.batches = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "wallet_reserve_batch_size",
		Help:    "Holds decided per reserve transaction (1: a reserve that found no batch running; WALLET_RESERVE_BATCH_MAX caps it).",
		Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000},
	})
	m.fallbacks = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "wallet_reserve_batch_fallbacks_total",
		Help: "Reserve batches that failed as a whole and reserved their holds one by one (each logged with its error).",
	})
	m.settleBatches = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "wallet_settle_batch_size",
		Help:    "Captures and releases applied per transaction (1: one that found no batch running; WALLET_SETTLE_BATCH_MAX caps it).",
		Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000},
	})
	m.settleFallbacks = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "wallet_settle_batch_fallbacks_total",
		Help: "Capture and release batches that failed as a whole and settled their holds one by one (each logged with its error).",
	})
	openHolds := func(pick func(n, cents int64) int64) func() float64 {
		return telemetry.ReadAtScrape(func(ctx context.Context) (float64, error) {
			n, cents, err := store.OpenHolds(ctx)
			return float64(pick(n, cents)), err
		})
	}
	for _, r := range []string{wallet.UnlinkedMatched, wallet.UnlinkedNotOurs, wallet.UnlinkedRetry} {
		m.unlinked.WithLabelValues(r) // exported at 0 from the start, so alerts on increase() see the first one
	}
	m.automationMetrics = registerAutomationMetrics(reg, store)
	reg.MustRegister(m.booked, m.webhooks, m.unlinked, m.expired, m.lag, m.batches, m.fallbacks, m.settleBatches, m.settleFallbacks,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "wallet_holds_past_expiry", Help: "Open holds whose expiry has passed: the sweeper should have released them (computed at scrape; -1 if the database did not answer)."},
			telemetry.ReadAtScrape(func(ctx context.Context) (float64, error) {
				n, err := store.HoldsPastExpiry(ctx, time.Now())
				return float64(n), err
			})),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "wallet_open_holds", Help: "Holds currently open (computed at scrape; -1 if the database did not answer)."},
			openHolds(func(n, _ int64) int64 { return n })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "wallet_open_holds_cents", Help: "Cents reserved by open holds (computed at scrape)."},
			openHolds(func(_, c int64) int64 { return c })),
	)
	return m
}

// Booked implements wallet.Metrics.
func (m *walletMetrics) Booked(kind string, cents int64) {
	dir := "credit"
	if cents < 0 {
		dir, cents = "debit", -cents
	}
	m.booked.WithLabelValues(kind, dir).Add(float64(cents))
}

// WebhookEvent implements wallet.Metrics. Event types are bounded by what
// Stripe sends to the endpoint (the endpoint's subscription), and only
// signature-verified events reach here with their real type.
func (m *walletMetrics) WebhookEvent(eventType, outcome string) {
	m.webhooks.WithLabelValues(eventType, outcome).Inc()
}

// UnlinkedPayment implements wallet.Metrics.
func (m *walletMetrics) UnlinkedPayment(result string) {
	m.unlinked.WithLabelValues(result).Inc()
}

// HoldsExpired implements wallet.Metrics.
func (m *walletMetrics) HoldsExpired(n int) {
	m.expired.Add(float64(n))
}

// StripeEventLag implements wallet.Metrics.
func (m *walletMetrics) StripeEventLag(d time.Duration) {
	m.lag.Observe(max(0, d.Seconds()))
}

// ReserveBatch records one reserve batch (postgres.Batches.Observe).
func (m *walletMetrics) ReserveBatch(size int, fellBack bool) {
	m.batches.Observe(float64(size))
	if fellBack {
		m.fallbacks.Inc()
	}
}

// SettleBatch records one capture and release batch
// (postgres.Batches.Observe).
func (m *walletMetrics) SettleBatch(size int, fellBack bool) {
	m.settleBatches.Observe(float64(size))
	if fellBack {
		m.settleFallbacks.Inc()
	}
}
