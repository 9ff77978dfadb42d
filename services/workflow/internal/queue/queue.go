// Package queue runs async workflow runs as River jobs in the service's own
// Postgres database, and the outbox's webhook events (platform/outbox),
// queued in the transaction that settles each run.
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
	"github.com/meterflow/meterflow/services/workflow/internal/postgres"
	"github.com/meterflow/meterflow/services/workflow/internal/workflow"
)

// Worker executes RunJobArgs jobs.
type Worker struct {
	river.WorkerDefaults[postgres.RunJobArgs]
	Runs *workflow.Service
}

// Work implements river.Worker.
func (w *Worker) Work(ctx context.Context, job *river.Job[postgres.RunJobArgs]) error {
	return w.Runs.ExecuteQueued(ctx, job.Args.RunID)
}

// Timeout gives each job its run's call timeout plus room for bookkeeping;
// the run's own deadline stops the call first.
func (w *Worker) Timeout(job *river.Job[postgres.RunJobArgs]) time.Duration {
	return time.Duration(job.Args.TimeoutMS)*time.Millisecond + time.Minute
}

// NewInsertOnly returns a River client that can only insert jobs.
func NewInsertOnly(pool *pgxpool.Pool, log *slog.Logger) (*river.Client[pgx.Tx], error) {
	c, err := river.NewClient(riverpgxv5.New(pool), &river.Config{Logger: log})
	if err != nil {
		return nil, fmt.Errorf("queue: insert client: %w", err)
	}
	return c, nil
}

// NewWorkerClient returns a River client working off async runs with up to
// maxWorkers at a time, and the runs' webhook events with events (on the
// outbox queue, up to maxWorkers at a time too).
func NewWorkerClient(pool *pgxpool.Pool, runs *workflow.Service, events *outbox.EventWorker, maxWorkers int, log *slog.Logger) (*river.Client[pgx.Tx], error) {
	workers := river.NewWorkers()
	if err := river.AddWorkerSafely(workers, &Worker{Runs: runs}); err != nil {
		return nil, fmt.Errorf("queue: register worker: %w", err)
	}
	queues := map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: maxWorkers}}
	if err := outbox.RegisterEvents(workers, queues, events, maxWorkers); err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	c, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
		Logger:  log,
		Queues:  queues,
		Workers: workers,
		// Longest possible job: the maximum call timeout plus bookkeeping.
		RescueStuckJobsAfter: time.Duration(workflow.MaxTimeoutMS)*time.Millisecond + 30*time.Minute,
	})
	if err != nil {
		return nil, fmt.Errorf("queue: worker client: %w", err)
	}
	return c, nil
}
