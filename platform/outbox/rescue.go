package outbox

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// RescueAfter is how long an outbox job may stay running before Rescue
// takes it back: four times the workers' 30 s timeout, so only a job whose
// process stopped (SIGKILL, a lost node) is ever taken.
const RescueAfter = 2 * time.Minute

// Rescue makes the outbox jobs that a stopped process left running
// available again, and returns how many it took back (a job out of
// attempts is discarded, as River's own rescuer does).
//
// River rescues stuck jobs itself, but after one horizon for every job of
// a client (RescueStuckJobsAfter), which must exceed the longest job the
// service runs: 35 minutes in the workflow service, whose async runs may
// take minutes. Outbox jobs are short, and running one twice is harmless
// (its idempotency key is its job id, which notify stores once), so a
// producer with long jobs takes its outbox back after RescueAfter
// instead. Concurrent calls (replicas) are safe: each job is taken by one
// UPDATE.
func Rescue(ctx context.Context, pool *pgxpool.Pool) (int64, error) {
	tag, err := pool.Exec(ctx, `
UPDATE river_job
SET errors = array_append(errors, jsonb_build_object('at', now(), 'attempt', attempt,
        'error', 'outbox: left running by a process that stopped; rescued', 'trace', '')),
    finalized_at = CASE WHEN attempt >= max_attempts THEN now() END,
    scheduled_at = now(),
    state = (CASE WHEN attempt >= max_attempts THEN 'discarded' ELSE 'available' END)::river_job_state
WHERE queue = $1 AND state = 'running' AND attempted_at < now() - make_interval(secs => $2)`,
		Queue, RescueAfter.Seconds())
	if err != nil {
		return 0, fmt.Errorf("outbox: rescue stopped jobs: %w", err)
	}
	return tag.RowsAffected(), nil
}

// RunRescuer calls Rescue every interval until ctx ends, logging what it
// took back and its errors.
func RunRescuer(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		n, err := Rescue(ctx, pool)
		switch {
		case err != nil && ctx.Err() == nil:
			log.WarnContext(ctx, "outbox rescue failed; it runs again", "err", err)
		case n > 0:
			log.InfoContext(ctx, "outbox jobs of a stopped process taken back", "jobs", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
