package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"

	"github.com/meterflow/meterflow/platform/jobs"
	"github.com/meterflow/meterflow/platform/outbox"
	notifyv1 "github.com/meterflow/meterflow/proto/gen/meterflow/notify/v1"
	"github.com/meterflow/meterflow/services/identity/internal/identity"
	"github.com/meterflow/meterflow/services/identity/internal/postgres"
)

// Workers of identity's River client: the outbox's email relay (emails
// to notify) and the password-reset jobs.
const (
	outboxWorkers = 4
	resetWorkers  = 2
)

// resetWorker works off password reset requests (identity.SendPasswordReset).
type resetWorker struct {
	river.WorkerDefaults[postgres.PasswordResetArgs]
	svc *identity.Service
}

// Work implements river.Worker.
func (w *resetWorker) Work(ctx context.Context, job *river.Job[postgres.PasswordResetArgs]) error {
	return w.svc.SendPasswordReset(ctx, job.Args.Email)
}

// Timeout implements river.Worker: two queries and a commit.
func (w *resetWorker) Timeout(*river.Job[postgres.PasswordResetArgs]) time.Duration {
	return 30 * time.Second
}

// newJobs returns identity's River client on pool, with the outbox's email
// worker delivering to notify and reset's worker, which needs the service
// (set before the client starts); the queue metrics go to reg.
func newJobs(pool *pgxpool.Pool, notify notifyv1.NotifyServiceClient, reset *resetWorker, reg prometheus.Registerer, log *slog.Logger) (*river.Client[pgx.Tx], error) {
	return jobs.NewClient(pool, jobs.ClientOptions{
		Log:     log,
		Queues:  map[string]int{river.QueueDefault: resetWorkers},
		Workers: []jobs.Worker{jobs.AddWorker(reset)},
		Emails:  &outbox.EmailWorker{Notify: notify, Service: Service}, OutboxWorkers: outboxWorkers,
		Metrics: reg,
		River: river.Config{
			// An email job holds its link, token included, until delivered:
			// a delivered one is deleted within about a minute, one notify
			// refused within an hour, rather than River's day and week.
			// (A discarded one has failed for days: its links have expired.)
			CompletedJobRetentionPeriod: time.Minute,
			CancelledJobRetentionPeriod: time.Hour,
			// Every identity job is short (30 s timeouts): one a killed
			// process left running is taken back after the outbox's
			// horizon, as the wallet and workflow take back their outbox
			// jobs (platform/outbox.Rescue), not after River's hour.
			RescueStuckJobsAfter: outbox.RescueAfter,
		},
	})
}

// stopJobs stops fetching jobs and waits up to the grace for the running
// ones; those still running are then canceled (River retries them later,
// and notify's idempotency key makes a repeated email harmless).
func (a *App) stopJobs() {
	ctx, cancel := context.WithTimeout(context.Background(), a.cfg.Grace())
	defer cancel()
	if err := a.jobs.Stop(ctx); err != nil {
		a.log.Warn("email jobs did not finish within SHUTDOWN_GRACE; canceling them", "err", err)
		hard, hardCancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = a.jobs.StopAndCancel(hard)
		hardCancel()
	}
}
