package app

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meterflow/meterflow/platform/telemetry"
	"github.com/meterflow/meterflow/services/wallet/internal/postgres"
	"github.com/meterflow/meterflow/services/wallet/internal/wallet"
)

// automationMetrics are the wallet automation's (issue 19). The counts of
// accounts in debt, open disputes and reconciliation's fixes are read from
// the database at scrape: reconciliation runs in a CronJob's short-lived
// process, which no scrape would see, and records each run in
// reconcile_runs instead.
type automationMetrics struct {
	crossings *prometheus.CounterVec
	autoTopUp *prometheus.CounterVec
}

func registerAutomationMetrics(reg prometheus.Registerer, store *postgres.Store) automationMetrics {
	m := automationMetrics{
		crossings: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wallet_balance_crossings_total",
			Help: "Balance crossings decided by captures, by kind (low_balance, auto_topup) and outcome (notified, charge, capped).",
		}, []string{"kind", "outcome"}),
		autoTopUp: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wallet_auto_topups_total",
			Help: "Automatic top-ups that ended, by result (succeeded: credited; failed: declined, authentication required, or called off).",
		}, []string{"result"}),
	}
	for _, r := range []string{"succeeded", "failed"} {
		m.autoTopUp.WithLabelValues(r)
	}
	gauges := func(pick func(inDebt, open, cents int64) int64) func() float64 {
		return telemetry.ReadAtScrape(func(ctx context.Context) (float64, error) {
			a, b, c, err := store.AutomationGauges(ctx)
			return float64(pick(a, b, c)), err
		})
	}
	reconcile := func(pick func(fixed, unmatched int64, last time.Time) float64) func() float64 {
		return telemetry.ReadAtScrape(func(ctx context.Context) (float64, error) {
			f, u, last, err := store.ReconcileTotals(ctx)
			return pick(f, u, last), err
		})
	}
	reg.MustRegister(m.crossings, m.autoTopUp,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "wallet_accounts_in_debt", Help: "Accounts whose balance a chargeback took below zero (runs and automatic charges blocked; computed at scrape, -1 if the database did not answer)."},
			gauges(func(n, _, _ int64) int64 { return n })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "wallet_open_disputes", Help: "Disputes still open (computed at scrape)."},
			gauges(func(_, n, _ int64) int64 { return n })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "wallet_open_disputes_cents", Help: "Cents held by open disputes (computed at scrape)."},
			gauges(func(_, _, c int64) int64 { return c })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "wallet_reconcile_fixed_total", Help: "Stripe events that `wallet reconcile` applied because the webhook had missed them (from reconcile_runs, read at scrape)."},
			reconcile(func(f, _ int64, _ time.Time) float64 { return float64(f) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "wallet_reconcile_last_unmatched", Help: "Events the last `wallet reconcile` could not match (they need an operator)."},
			reconcile(func(_, u int64, _ time.Time) float64 { return float64(u) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "wallet_reconcile_last_run_timestamp_seconds", Help: "When the last `wallet reconcile` finished (Unix seconds; 0 before the first)."},
			reconcile(func(_, _ int64, last time.Time) float64 { return float64(max(0, last.Unix())) })),
	)
	return m
}

// Crossing implements wallet.Metrics.
func (m automationMetrics) Crossing(kind, outcome string) {
	m.crossings.WithLabelValues(kind, outcome).Inc()
}

// AutoTopUp implements wallet.Metrics.
func (m automationMetrics) AutoTopUp(result string) { m.autoTopUp.WithLabelValues(result).Inc() }

var _ wallet.Metrics = (*walletMetrics)(nil)
