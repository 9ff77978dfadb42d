// Package queue runs the wallet's durable jobs on River, in the wallet's
// own database: the off-session charge of each automatic top-up, queued in
// the transaction of the capture whose crossing created it (ADR 0008), and
// the outbox's emails and webhook events (platform/outbox), queued in the
// transaction of the change that causes each.
package queue

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

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
	Log    *slog.Logger
}

// NewClient returns the wallet's River client: it inserts jobs (postgres.Jobs)
// and, with Workers > 0, works them once started. The worker's Wallet must
// be set before Start.
func NewClient(pool *pgxpool.Pool, worker *AutoTopUpWorker, o Options) (*river.Client[pgx.Tx], error) {
	cfg := &river.Config{Logger: o.Log, RescueStuckJobsAfter: o.RescueAfter}
	if cfg.RescueStuckJobsAfter <= 0 {
		cfg.RescueStuckJobsAfter = 10 * time.Minute
	}
	cfg.JobTimeout = min(chargeTimeout, cfg.RescueStuckJobsAfter)
	worker.timeout = cfg.JobTimeout
	if o.Workers > 0 {
		workers := river.NewWorkers()
		if err := river.AddWorkerSafely(workers, worker); err != nil {
			return nil, fmt.Errorf("queue: register worker: %w", err)
		}
		cfg.Workers = workers
		cfg.Queues = map[string]river.QueueConfig{postgres.QueueAutoTopUp: {MaxWorkers: o.Workers}}
		if err := outbox.Register(workers, cfg.Queues, o.Emails, o.Workers); err != nil {
			return nil, fmt.Errorf("queue: %w", err)
		}
		if err := outbox.RegisterEvents(workers, cfg.Queues, o.Events, o.Workers); err != nil {
			return nil, fmt.Errorf("queue: %w", err)
		}
	}
	c, err := river.NewClient(riverpgxv5.New(pool), cfg)
	if err != nil {
		return nil, fmt.Errorf("queue: client: %w", err)
	}
	return c, nil
}
