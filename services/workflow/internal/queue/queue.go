// Package queue runs async workflow runs as River jobs in the service's own
// Postgres database, and the outbox's webhook events (platform/outbox),
// queued in the transaction that settles each run.
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
	return jobs.NewClient(pool, jobs.ClientOptions{Log: log})
}

// NewWorkerClient returns a River client working off async runs with up to
// maxWorkers at a time, and the runs' webhook events with events (on the
// outbox queue, up to maxWorkers at a time too); the queue metrics go to
// reg.
func NewWorkerClient(pool *pgxpool.Pool, runs *workflow.Service, events *outbox.EventWorker, maxWorkers int, reg prometheus.Registerer, log *slog.Logger) (*river.Client[pgx.Tx], error) {
	if events == nil {
		return nil, errors.New("queue: the worker client needs the outbox's event worker")
	}
	return jobs.NewClient(pool, jobs.ClientOptions{
		Log:     log,
		Queues:  map[string]int{river.QueueDefault: maxWorkers},
		Workers: []jobs.Worker{jobs.AddWorker(&Worker{Runs: runs})},
		Events:  events, OutboxWorkers: maxWorkers,
		Metrics: reg,
		River: river.Config{
			// Longest possible job: the maximum call timeout plus bookkeeping.
			RescueStuckJobsAfter: time.Duration(workflow.MaxTimeoutMS)*time.Millisecond + 30*time.Minute,
		},
	})
}
