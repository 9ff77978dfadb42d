package jobs_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"

	"github.com/meterflow/meterflow/platform/database/dbtest"
	"github.com/meterflow/meterflow/platform/jobs"
)

// TestOldestDue: the age of a queue's oldest job due for a worker counts
// available jobs and retryable ones whose retry time has come, not those
// still waiting for their retry time nor other queues'; the collector
// reports the same age.
func TestOldestDue(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _ := dbtest.New(t, nil)
	if err := jobs.Migrate(ctx, pool, nil); err != nil {
		t.Fatal(err)
	}
	if age, err := jobs.OldestDue(ctx, pool, "q"); err != nil || age != 0 {
		t.Fatalf("empty queue: %v, %v; want 0", age, err)
	}
	inserter, err := jobs.NewClient(pool, jobs.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for _, j := range []struct {
		queue, state string
		scheduled    time.Time
	}{
		{"q", "available", now.Add(-time.Minute)},
		{"q", "retryable", now.Add(-2 * time.Minute)}, // due: the oldest
		{"q", "retryable", now.Add(time.Hour)},        // not due yet
		{"other", "available", now.Add(-time.Hour)},
	} {
		res, err := inserter.Insert(ctx, pingArgs{}, &river.InsertOpts{Queue: j.queue})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pool.Exec(ctx, `UPDATE river_job SET state = $2::river_job_state, scheduled_at = $3 WHERE id = $1`, res.Job.ID, j.state, j.scheduled); err != nil {
			t.Fatal(err)
		}
	}
	age, err := jobs.OldestDue(ctx, pool, "q")
	if err != nil || age < 2*time.Minute || age > 3*time.Minute {
		t.Errorf("OldestDue(q) = %v, %v; want about 2 minutes", age, err)
	}
	reg := prometheus.NewRegistry()
	if err := jobs.RegisterMetrics(reg, pool, "q"); err != nil {
		t.Fatal(err)
	}
	if got := oldestAge(t, reg, "q"); got < 120 || got > 180 {
		t.Errorf("river_queue_oldest_available_age_seconds{queue=q} = %v, want about 120", got)
	}
}

// oldestAge is river_queue_oldest_available_age_seconds{queue} as scraped.
func oldestAge(t *testing.T, reg *prometheus.Registry, queue string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if mf.GetName() == "river_queue_oldest_available_age_seconds" && l.GetName() == "queue" && l.GetValue() == queue {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	t.Fatalf("no river_queue_oldest_available_age_seconds{queue=%q}", queue)
	return 0
}
