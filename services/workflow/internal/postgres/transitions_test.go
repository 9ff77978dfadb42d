package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/meterflow/meterflow/platform/database/dbtest"
	"github.com/meterflow/meterflow/platform/jobs"
	"github.com/meterflow/meterflow/services/workflow/internal/postgres"
	"github.com/meterflow/meterflow/services/workflow/internal/queue"
	"github.com/meterflow/meterflow/services/workflow/internal/workflow"
	"github.com/meterflow/meterflow/services/workflow/migrations"
)

// newStore is a store on a fresh database with River's tables and one
// workflow, "greet".
func newStore(t *testing.T) (*postgres.Store, *pgxpool.Pool) {
	t.Helper()
	pool, _ := dbtest.New(t, migrations.FS)
	return storeOn(t, pool), pool
}

// storeOn migrates River's tables on pool, adds the workflow "greet" and
// returns a store on pool.
func storeOn(t testing.TB, pool *pgxpool.Pool) *postgres.Store {
	t.Helper()
	ctx := context.Background()
	if err := jobs.Migrate(ctx, pool, nil); err != nil {
		t.Fatal(err)
	}
	inserter, err := queue.NewInsertOnly(pool, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO workflows (slug, name, webhook_url, fee_cents) VALUES ('greet', 'Greet', 'http://n8n.invalid/webhook/greet', 10)`); err != nil {
		t.Fatal(err)
	}
	return postgres.NewStore(pool, inserter)
}

// runRow is what the test reads back of a run.
type runRow struct {
	status, hold string
	unsettled    bool
	charged, fee int64
	started      *time.Time
	finished     *time.Time
}

func readRun(t *testing.T, pool *pgxpool.Pool, id uuid.UUID) runRow {
	t.Helper()
	var r runRow
	err := pool.QueryRow(context.Background(), `SELECT status, hold_state, unsettled, charged_cents, fee_cents, started_at, finished_at FROM runs WHERE id = $1`, id).
		Scan(&r.status, &r.hold, &r.unsettled, &r.charged, &r.fee, &r.started, &r.finished)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// versions returns every run's row version (xmin), to count the rows an
// UPDATE changed.
func versions(t *testing.T, pool *pgxpool.Pool) map[uuid.UUID]string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT id, xmin::text FROM runs`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[uuid.UUID]string{}
	for rows.Next() {
		var id uuid.UUID
		var x string
		if err := rows.Scan(&id, &x); err != nil {
			t.Fatal(err)
		}
		out[id] = x
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// countJobs counts River's jobs (async runs) and the outbox's events.
func countJobs(t *testing.T, pool *pgxpool.Pool) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM river_job) + (SELECT count(*) FROM outbox_events)`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestTransitionsHoldTheTable runs every event against a run in every
// state through the store's guarded UPDATEs (queries/runs.sql): where the
// transition table has no row, no row changes and the store says
// ErrStateChanged; where it has one, exactly that run changes, into the
// row's target state, with the stored unsettled flag, the charge and the
// finish time the table implies. Entering queued/held queues one job, and
// so does a change that settles the run's status (its webhook event).
func TestTransitionsHoldTheTable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, pool := newStore(t)
	user := uuid.NewString()
	for _, info := range workflow.States() {
		for _, ev := range workflow.Events() {
			id := uuid.New()
			_, err := pool.Exec(ctx, `
INSERT INTO runs (id, user_id, workflow_slug, status, hold_state, fee_cents, timeout_ms, input, request_hash, deadline_at,
                  started_at, finished_at)
VALUES ($1, $2, 'greet', $3, $4, 10, 30000, '{"a": 1}', '\x00', now(),
        now(), CASE WHEN $3::text IN ('succeeded', 'failed') THEN now() END)`, id, user, string(info.Status), string(info.Hold))
			if err != nil {
				t.Fatalf("insert a run in %s: %v", info.State, err)
			}
			if got := readRun(t, pool, id); got.unsettled != info.Open {
				t.Fatalf("%s: stored unsettled = %v, the table says open = %v", info.State, got.unsettled, info.Open)
			}
			before, jobs := versions(t, pool), countJobs(t, pool)

			c := workflow.Step(ev)
			c.HTTPStatus, c.Output, c.Error, c.Input = 200, []byte(`{"out": 1}`), "why", []byte(`{"preview": 1}`)
			run, err := store.Apply(ctx, id, c)

			changed := 0
			for rid, v := range versions(t, pool) {
				if before[rid] != v {
					changed++
				}
			}
			to, allowed := workflow.Next(info.State, ev)
			if !allowed {
				if !errors.Is(err, workflow.ErrStateChanged) || changed != 0 || countJobs(t, pool) != jobs {
					t.Errorf("%s on %s (no row): err %v, %d rows changed, %d jobs queued", ev, info.State, err, changed, countJobs(t, pool)-jobs)
				}
				continue
			}
			if err != nil || changed != 1 || run.State() != to {
				t.Errorf("%s on %s (row to %s): err %v, %d rows changed, run now %s", ev, info.State, to, err, changed, run.State())
				continue
			}
			checkEntered(t, readRun(t, pool, id), ev, info.State, to)
			_, publishes := c.Publishes()
			if wantJobs := jobs + btoi(to == workflow.StateQueuedHeld) + btoi(publishes); countJobs(t, pool) != wantJobs {
				t.Errorf("%s on %s: %d jobs, want %d", ev, info.State, countJobs(t, pool), wantJobs)
			}
		}
	}
}

// checkEntered holds the columns of a run that just entered to against what
// the table says of that state.
func checkEntered(t *testing.T, got runRow, ev workflow.Event, from, to workflow.State) {
	t.Helper()
	want := workflow.Info(to)
	switch {
	case got.status != string(to.Status) || got.hold != string(to.Hold):
		t.Errorf("%s on %s: stored %s/%s, want %s", ev, from, got.status, got.hold, to)
	case got.unsettled != want.Open:
		t.Errorf("%s on %s: stored unsettled = %v, the table says open = %v", ev, from, got.unsettled, want.Open)
	case (got.charged == got.fee) != want.Charged || (got.charged != 0 && got.charged != got.fee):
		t.Errorf("%s on %s: charged %d of %d, the table says charged = %v", ev, from, got.charged, got.fee, want.Charged)
	case (got.finished != nil) != to.Status.Finished():
		t.Errorf("%s on %s: finished_at %v in status %s", ev, from, got.finished, to.Status)
	case to == workflow.StateRefused && got.started != nil:
		t.Errorf("%s on %s: a refused run has started_at %v", ev, from, got.started)
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
