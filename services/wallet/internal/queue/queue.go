// Package queue runs the wallet's durable jobs on River, in the wallet's
// own database: the off-session charge of each automatic top-up, queued in
// the transaction of the capture whose crossing created it (ADR 0008), and
// the outbox's emails and webhook events (platform/outbox), queued in the
// transaction of the change that causes each.
package queue

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"

	"github.com/meterflow/meterflow/platform/jobs"
	"github.com/meterflow/meterflow/platform/outbox"
	"github.com/meterflow/meterflow/services/wallet/internal/postgres"
	"github.com/meterflow/meterflow/services/wallet/internal/wallet"
)

// chargeTimeout bounds one charge job: Stripe's client times out at 20 s
// and retries once. A shorter RescueAfter shortens it (River rescues only
// jobs that ran longer than their timeout).
const chargeTimeout = time.Minute

// AutoTopUpWorker charges one automatic top-up.
type AutoTopUpWorker struct {
	river.WorkerDefaults[postgres.AutoTopUpArgs]
	// Wallet is set once the service is built (it needs the store, which
	// needs the River client this worker is registered with).
	Wallet *wallet.Service
	// timeout is chargeTimeout, or RescueAfter when shorter (NewClient).
	timeout time.Duration
}

// Work implements river.Worker. Stripe is called with the top-up's own
// idempotency key, so a retry (this job's, or a rescued one's after a
// crash) gets the first PaymentIntent back and never charges twice.
func (w *AutoTopUpWorker) Work(ctx context.Context, job *river.Job[postgres.AutoTopUpArgs]) error {
	return w.Wallet.ChargeAutoTopUp(ctx, job.Args.TopUpID, job.Attempt >= job.MaxAttempts)
}

// Timeout implements river.Worker.
func (w *AutoTopUpWorker) Timeout(*river.Job[postgres.AutoTopUpArgs]) time.Duration {
	if w.timeout > 0 {
		return w.timeout
	}
	return chargeTimeout
}

// Options configure the River client.
type Options struct {
	// Workers is how many jobs this process works at once; 0 inserts
	// only (another replica works them).
	Workers int
	// RescueAfter is when a job still running counts as abandoned by a
	// process that died, and is retried (default 10 minutes).
	RescueAfter time.Duration
	// Emails and Events work the outbox's email and event jobs
	// (platform/outbox) when Workers > 0.
	Emails *outbox.EmailWorker
	Events *outbox.EventWorker
	// Metrics, when set, gets the queue metrics (platform/jobs).
	Metrics prometheus.Registerer
	Log     *slog.Logger
}

// NewClient returns the wallet's River client: it inserts jobs (postgres.Jobs)
// and, with Workers > 0, works them once started. The worker's Wallet must
// be set before Start.
func NewClient(pool *pgxpool.Pool, worker *AutoTopUpWorker, o Options) (*river.Client[pgx.Tx], error) {
	rescue := o.RescueAfter
	if rescue <= 0 {
		rescue = 10 * time.Minute
	}
	worker.timeout = min(chargeTimeout, rescue)
	opts := jobs.ClientOptions{
		Log:     o.Log,
		Metrics: o.Metrics,
		River:   river.Config{RescueStuckJobsAfter: rescue, JobTimeout: worker.timeout},
	}
	if o.Workers > 0 {
		if o.Emails == nil || o.Events == nil {
			return nil, errors.New("queue: working jobs needs the outbox's email and event workers")
		}
		opts.Queues = map[string]int{postgres.QueueAutoTopUp: o.Workers}
		opts.Workers = []jobs.Worker{jobs.AddWorker(worker)}
		opts.Emails, opts.Events, opts.OutboxWorkers = o.Emails, o.Events, o.Workers
	}
	return jobs.NewClient(pool, opts)
}
