package postgres_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/meterflow/meterflow/platform/database/dbtest"
	"github.com/meterflow/meterflow/services/workflow/internal/postgres/db"
	"github.com/meterflow/meterflow/services/workflow/migrations"
)

// TestListRunsPlans checks which index serves each kind of runs list on
// skewed data: one user owns 97 % of the rows, all older than everyone else's
// recent runs. A user's page must come from the user's index, not from
// the operators' created_at index filtered on user_id, which reads every
// newer row of other users first (what the bench's growth user hit).
func TestListRunsPlans(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _ := dbtest.New(t, migrations.FS)
	seedSkewedRuns(t, pool)

	text := func(s string) pgtype.Text { return pgtype.Text{String: s, Valid: true} }
	// A user's list may use either user index (which one is the planner's
	// call); the operators' lists use the partial "_all" indexes.
	tests := []struct {
		name       string
		params     db.ListRunsParams
		wantPrefix string
		wantSuffix string
	}{
		{"heavy user", db.ListRunsParams{UserID: text("heavy"), MaxRows: 51}, "runs_user_", ""},
		{"heavy user, one workflow", db.ListRunsParams{UserID: text("heavy"), Workflow: text("greet"), MaxRows: 51}, "runs_user_", ""},
		{"heavy user, by status", db.ListRunsParams{UserID: text("heavy"), Status: text("succeeded"), MaxRows: 51}, "runs_user_", ""},
		{"light user", db.ListRunsParams{UserID: text("light-7"), MaxRows: 51}, "runs_user_", ""},
		{"operators, every run", db.ListRunsParams{MaxRows: 51}, "runs_", "_all"},
		{"operators, one workflow", db.ListRunsParams{Workflow: text("greet"), MaxRows: 51}, "runs_", "_all"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := &dbtest.Recorder{}
			_, _ = db.New().ListRuns(ctx, rec, tc.params)
			got := dbtest.IndexesUsed(t, pool, rec)
			if len(got) != 1 || !strings.HasPrefix(got[0], tc.wantPrefix) || !strings.HasSuffix(got[0], tc.wantSuffix) {
				t.Fatalf("plan reads indexes %v, want one index %s*%s", got, tc.wantPrefix, tc.wantSuffix)
			}
		})
	}
}

func seedSkewedRuns(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	_, err := pool.Exec(context.Background(), `
INSERT INTO workflows (slug, name, webhook_url, fee_cents) VALUES
    ('greet', 'Greet', 'http://n8n.invalid/webhook/greet', 10), ('other', 'Other', 'http://n8n.invalid/webhook/other', 10);
INSERT INTO runs (id, user_id, workflow_slug, status, hold_state, fee_cents, timeout_ms, input, request_hash, deadline_at, created_at)
SELECT gen_random_uuid(), CASE WHEN i <= 50000 THEN 'heavy' ELSE 'light-' || (i % 50) END,
       CASE WHEN i % 4 = 0 THEN 'other' ELSE 'greet' END, 'succeeded',
       'captured', 10, 30000, '{}', '\x00', now(),
       CASE WHEN i <= 50000 THEN now() - interval '30 days' + i * interval '1 second' ELSE now() - (51500 - i) * interval '1 ms' END
FROM generate_series(1, 51500) AS i;
ANALYZE runs;`)
	if err != nil {
		t.Fatal(err)
	}
}
