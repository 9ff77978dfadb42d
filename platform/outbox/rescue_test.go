package outbox_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/meterflow/meterflow/platform/database/dbtest"
	"github.com/meterflow/meterflow/platform/jobs"
	"github.com/meterflow/meterflow/platform/outbox"
)

// TestRescueTakesBackOnlyAbandonedJobs: an outbox job left running for
// longer than RescueAfter is available again (or discarded when out of
// attempts); one running for less, and a job of another queue, are left
// to their process and to River.
func TestRescueTakesBackOnlyAbandonedJobs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _ := dbtest.New(t, nil)
	if err := jobs.Migrate(ctx, pool, nil); err != nil {
		t.Fatal(err)
	}
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]int64{}
	for _, name := range []string{"abandoned", "last-attempt", "recent", "other-queue"} {
		inTx(t, pool, true, func(ctx context.Context, tx pgx.Tx) error {
			return outbox.EnqueueEvent(ctx, client, tx, outbox.Event{UserID: "u1", Type: "run." + name, Data: []byte(`{}`)})
		})
		var id int64
		if err := pool.QueryRow(ctx, `SELECT max(id) FROM river_job`).Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids[name] = id
	}
	running := func(name, ago string, attempt int) {
		if _, err := pool.Exec(ctx, `UPDATE river_job SET state = 'running', attempt = $2, attempted_at = now() - $3::interval,
			queue = CASE WHEN $4 THEN 'default' ELSE queue END WHERE id = $1`, ids[name], attempt, ago, name == "other-queue"); err != nil {
			t.Fatal(err)
		}
	}
	running("abandoned", "3 minutes", 1)
	running("last-attempt", "3 minutes", 20)
	running("recent", "10 seconds", 1)
	running("other-queue", "3 minutes", 1)

	n, err := outbox.Rescue(ctx, pool)
	if err != nil || n != 2 {
		t.Fatalf("Rescue = %d, %v; want 2", n, err)
	}
	for name, want := range map[string]string{"abandoned": "available", "last-attempt": "discarded", "recent": "running", "other-queue": "running"} {
		var state string
		var errs int
		if err := pool.QueryRow(ctx, `SELECT state, coalesce(array_length(errors, 1), 0) FROM river_job WHERE id = $1`, ids[name]).Scan(&state, &errs); err != nil {
			t.Fatal(err)
		}
		if state != want || (want != "running") != (errs == 1) {
			t.Errorf("%s: %s with %d errors recorded, want %s", name, state, errs, want)
		}
	}
}
