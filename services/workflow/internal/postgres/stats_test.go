package postgres_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/meterflow/meterflow/platform/database/dbtest"
	"github.com/meterflow/meterflow/services/workflow/internal/postgres/db"
	"github.com/meterflow/meterflow/services/workflow/internal/workflow"
	"github.com/meterflow/meterflow/services/workflow/migrations"
)

// TestRunSeries checks the charts' series on rows placed at known times:
// every UTC hour and day of the window is there (zeros filled), a run
// counts in the bucket of its created_at in UTC whatever the session's
// time zone, the first hour counts runs from since on, the busiest
// workflows are ranked by runs then slug, and a user's days hold only
// that user's runs.
func TestRunSeries(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, pool := newStore(t)
	if _, err := pool.Exec(ctx, `INSERT INTO workflows (slug, name, webhook_url, fee_cents) VALUES ('alpha', 'Alpha', 'http://n8n.invalid/a', 10), ('beta', 'Beta', 'http://n8n.invalid/b', 10)`); err != nil {
		t.Fatal(err)
	}
	// A session time zone far from UTC must not move any bucket.
	if _, err := pool.Exec(ctx, `ALTER DATABASE "`+pool.Config().ConnConfig.Database+`" SET timezone = 'Pacific/Kiritimati'`); err != nil {
		t.Fatal(err)
	}
	pool.Reset()
	base := time.Date(2026, 3, 28, 22, 0, 0, 0, time.UTC) // around Europe's DST switch, for good measure
	ann, bob := uuid.New(), uuid.New()
	add := func(user uuid.UUID, slug, status string, at time.Time) {
		t.Helper()
		if _, err := pool.Exec(ctx, `INSERT INTO runs (id, user_id, workflow_slug, status, hold_state, fee_cents, timeout_ms, input, request_hash, deadline_at, created_at)
VALUES (gen_random_uuid(), $1, $2, $3, 'captured', 10, 30000, '{}', '\x00', now(), $4)`, user.String(), slug, status, at); err != nil {
			t.Fatal(err)
		}
	}
	add(ann, "alpha", "succeeded", base.Add(-time.Minute))           // before since: left out
	add(ann, "alpha", "succeeded", base.Add(10*time.Minute))         // hour 22
	add(ann, "beta", "failed", base.Add(59*time.Minute))             // hour 22
	add(bob, "beta", "succeeded", base.Add(2*time.Hour))             // hour 00 of the 29th
	add(bob, "beta", "queued", base.Add(2*time.Hour+30*time.Minute)) // hour 00
	add(ann, "alpha", "running", base.Add(3*time.Hour))              // hour 01

	since := base.Add(5 * time.Minute)
	st, err := store.RunStats(ctx, workflow.StatsQuery{Since: since, TopFailing: 5, FirstHour: base, LastHour: base.Add(4 * time.Hour), Busiest: 5})
	if err != nil {
		t.Fatal(err)
	}
	wantHours := []workflow.HourCounts{
		{Hour: base, Runs: workflow.Counts{Succeeded: 1, Failed: 1}},
		{Hour: base.Add(time.Hour)},
		{Hour: base.Add(2 * time.Hour), Runs: workflow.Counts{Succeeded: 1, Queued: 1}},
		{Hour: base.Add(3 * time.Hour), Runs: workflow.Counts{Running: 1}},
		{Hour: base.Add(4 * time.Hour)},
	}
	if !slices.EqualFunc(st.ByHour, wantHours, func(a, b workflow.HourCounts) bool { return a.Hour.Equal(b.Hour) && a.Runs == b.Runs }) {
		t.Errorf("by hour = %+v\nwant %+v", st.ByHour, wantHours)
	}
	wantBusy := []workflow.WorkflowRuns{
		{Workflow: "beta", Total: 3, Runs: workflow.Counts{Queued: 1, Succeeded: 1, Failed: 1}},
		{Workflow: "alpha", Total: 2, Runs: workflow.Counts{Running: 1, Succeeded: 1}},
	}
	if !slices.Equal(st.Busiest, wantBusy) {
		t.Errorf("busiest = %+v, want %+v", st.Busiest, wantBusy)
	}
	if st, err := store.RunStats(ctx, workflow.StatsQuery{Since: since, TopFailing: 5, Busiest: 1}); err != nil || st.ByHour != nil || len(st.Busiest) != 1 || st.Busiest[0].Workflow != "beta" {
		t.Errorf("without hours, one busiest: %+v, %v", st, err)
	}

	day := base.Truncate(24 * time.Hour)
	days, err := store.UserRunsByDay(ctx, ann, day.AddDate(0, 0, -1), day.AddDate(0, 0, 1))
	if err != nil {
		t.Fatal(err)
	}
	wantDays := []workflow.DayCounts{
		{Day: day.AddDate(0, 0, -1)},
		{Day: day, Runs: workflow.Counts{Succeeded: 2, Failed: 1}},
		{Day: day.AddDate(0, 0, 1), Runs: workflow.Counts{Running: 1}},
	}
	if !slices.EqualFunc(days, wantDays, func(a, b workflow.DayCounts) bool { return a.Day.Equal(b.Day) && a.Runs == b.Runs }) {
		t.Errorf("ann's days = %+v\nwant %+v", days, wantDays)
	}
	if days, err := store.UserRunsByDay(ctx, uuid.New(), day, day); err != nil || len(days) != 1 || days[0].Runs != (workflow.Counts{}) {
		t.Errorf("a user without runs: %+v, %v", days, err)
	}
}

// TestRunSeriesPlans: a user's days read the user's index, the operators'
// series the partial created_at index (a million-row history stays out of
// reach of one page).
func TestRunSeriesPlans(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _ := dbtest.New(t, migrations.FS)
	seedSkewedRuns(t, pool)
	now := time.Now().UTC().Truncate(time.Hour)
	for _, tc := range []struct {
		name string
		run  func(q *db.Queries, rec *dbtest.Recorder)
		want string
	}{
		{"a light user's days", func(q *db.Queries, rec *dbtest.Recorder) {
			_, _ = q.UserRunsByDay(ctx, rec, db.UserRunsByDayParams{UserID: "light-7", First: now.Add(-30 * 24 * time.Hour), Last: now})
		}, "runs_user_"},
		{"the operators' hours", func(q *db.Queries, rec *dbtest.Recorder) {
			_, _ = q.RunsByHour(ctx, rec, db.RunsByHourParams{Since: now.Add(-time.Hour), First: now.Add(-time.Hour), Last: now})
		}, "runs_created_all"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &dbtest.Recorder{}
			tc.run(db.New(), rec)
			got := dbtest.IndexesUsed(t, pool, rec)
			if len(got) != 1 || !strings.HasPrefix(got[0], tc.want) {
				t.Fatalf("plan reads indexes %v, want one index %s*", got, tc.want)
			}
		})
	}
}
