// Package queue runs async workflow runs as River jobs in the service's own
// Postgres database.
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
// maxWorkers at a time.
func NewWorkerClient(pool *pgxpool.Pool, runs *workflow.Service, maxWorkers int, log *slog.Logger) (*river.Client[pgx.Tx], error) {
	workers := river.NewWorkers()
	if err := river.AddWorkerSafely(workers, &Worker{Runs: runs}); err != nil {
		return nil, fmt.Errorf("queue: register worker: %w", err)
	}
	c, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
		Logger:  log,
		Queues:  map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: maxWorkers}},
		Workers: workers,
		// Longest possible job: the maximum call timeout plus bookkeeping.
		RescueStuckJobsAfter: time.Duration(workflow.MaxTimeoutMS)*time.Millisecond + 30*time.Minute,
	})
	if err != nil {
		return nil, fmt.Errorf("queue: worker client: %w", err)
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
		if log == nil {
			break
		}
		log.InfoContext(ctx, "river migration applied", "version", v.Version, "name", v.Name)
	}
	return nil
}

// Ready reports whether River's tables exist, so a missing `migrate` is
// reported at start rather than at the first async run.
func Ready(ctx context.Context, pool *pgxpool.Pool) error {
	var ok bool
	if err := pool.QueryRow(ctx, "SELECT to_regclass('river_job') IS NOT NULL").Scan(&ok); err != nil {
		return fmt.Errorf("queue: check tables: %w", err)
	}
	if !ok {
		return fmt.Errorf("queue: River's tables are missing: run `workflow migrate` first")
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
