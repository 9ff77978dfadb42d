// Package queue runs the wallet's durable jobs on River, in the wallet's
// own database: the off-session charge of each automatic top-up, queued in
// the transaction of the capture whose crossing created it (ADR 0008).
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
	"github.com/riverqueue/river/rivermigrate"

	"github.com/meterflow/meterflow/platform/database"
	"github.com/meterflow/meterflow/services/wallet/internal/postgres"
	"github.com/meterflow/meterflow/services/wallet/internal/wallet"
)

// chargeTimeout bounds one charge job: Stripe's client times out at 20 s
// and retries once.
const chargeTimeout = time.Minute

// AutoTopUpWorker charges one automatic top-up.
type AutoTopUpWorker struct {
	river.WorkerDefaults[postgres.AutoTopUpArgs]
	// Wallet is set once the service is built (it needs the store, which
	// needs the River client this worker is registered with).
	Wallet *wallet.Service
}

// Work implements river.Worker. Stripe is called with the top-up's own
// idempotency key, so a retry (this job's, or a rescued one's after a
// crash) gets the first PaymentIntent back and never charges twice.
func (w *AutoTopUpWorker) Work(ctx context.Context, job *river.Job[postgres.AutoTopUpArgs]) error {
	return w.Wallet.ChargeAutoTopUp(ctx, job.Args.TopUpID, job.Attempt >= job.MaxAttempts)
}

// Timeout implements river.Worker.
func (w *AutoTopUpWorker) Timeout(*river.Job[postgres.AutoTopUpArgs]) time.Duration {
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
	Log         *slog.Logger
}

// NewClient returns the wallet's River client: it inserts jobs (postgres.Jobs)
// and, with Workers > 0, works them once started. The worker's Wallet must
// be set before Start.
func NewClient(pool *pgxpool.Pool, worker *AutoTopUpWorker, o Options) (*river.Client[pgx.Tx], error) {
	cfg := &river.Config{Logger: o.Log, RescueStuckJobsAfter: o.RescueAfter}
	if cfg.RescueStuckJobsAfter <= 0 {
		cfg.RescueStuckJobsAfter = 10 * time.Minute
	}
	if o.Workers > 0 {
		workers := river.NewWorkers()
		if err := river.AddWorkerSafely(workers, worker); err != nil {
			return nil, fmt.Errorf("queue: register worker: %w", err)
		}
		cfg.Workers = workers
		cfg.Queues = map[string]river.QueueConfig{postgres.QueueAutoTopUp: {MaxWorkers: o.Workers}}
	}
	c, err := river.NewClient(riverpgxv5.New(pool), cfg)
	if err != nil {
		return nil, fmt.Errorf("queue: client: %w", err)
	}
	return c, nil
}

// Migrate applies River's own migrations (its job tables) to the database.
func Migrate(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) error {
	m, err := rivermigrate.New(riverpgxv5.New(pool), &rivermigrate.Config{Logger: log})
	if err != nil {
		return fmt.Errorf("queue: migrator: %w", err)
	}
	res, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil)
	if err != nil {
		return fmt.Errorf("queue: migrate: %w", err)
	}
	for _, v := range res.Versions {
		if log != nil {
			log.InfoContext(ctx, "river migration applied", "version", v.Version, "name", v.Name)
		}
	}
	return nil
}

// CheckSchema compares River's migrations applied to the database at
// dbURL with those this build's River needs: nil when none is missing, a
// *database.SchemaBehindError naming command when some are.
func CheckSchema(ctx context.Context, dbURL, command string) error {
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	defer pool.Close()
	m, err := rivermigrate.New(riverpgxv5.New(pool), &rivermigrate.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return fmt.Errorf("queue: migrator: %w", err)
	}
	applied, err := m.ExistingVersions(ctx)
	if err != nil {
		return fmt.Errorf("queue: read River's schema version: %w", err)
	}
	var have, want int
	for _, v := range applied {
		have = max(have, v.Version)
	}
	for _, v := range m.AllVersions() {
		want = max(want, v.Version)
	}
	if have < want {
		return &database.SchemaBehindError{What: "River's ", Have: int64(have), Want: int64(want), Command: command}
	}
	return nil
}

// Ready reports whether River's tables exist, so a missing `migrate` is
// reported at start rather than at the first automatic charge.
func Ready(ctx context.Context, pool *pgxpool.Pool) error {
	var ok bool
	if err := pool.QueryRow(ctx, "SELECT to_regclass('river_job') IS NOT NULL").Scan(&ok); err != nil {
		return fmt.Errorf("queue: check tables: %w", err)
	}
	if !ok {
		return fmt.Errorf("queue: River's tables are missing: run `wallet migrate` first")
	}
	return nil
}
