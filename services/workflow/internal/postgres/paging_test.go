package postgres_test

import (
	"context"
	"testing"

	"github.com/google/uuid"

	"github.com/meterflow/meterflow/platform/paging"
	"github.com/meterflow/meterflow/services/workflow/internal/workflow"
)

// TestListsHaveNoCursorToAnEmptyPage pages runs and audit events of
// exactly two rows: a page that ends the list carries no next cursor (the
// lists used to return one whenever a page was full, which led to an
// empty page).
func TestListsHaveNoCursorToAnEmptyPage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, pool := newStore(t)
	svc := workflow.NewService(workflow.Config{Store: store})
	user, actor := uuid.New(), uuid.New()
	_, err := pool.Exec(ctx, `
INSERT INTO runs (id, user_id, workflow_slug, status, hold_state, fee_cents, timeout_ms, input, request_hash, deadline_at, created_at)
SELECT gen_random_uuid(), $1, 'greet', 'succeeded', 'captured', 10, 30000, '{}', '\x00', now(), now() - i * interval '1 second'
FROM generate_series(1, 2) AS i`, user.String())
	if err != nil {
		t.Fatal(err)
	}
	_, err = pool.Exec(ctx, `
INSERT INTO audit_events (id, actor_id, action, target_type, target_id, created_at)
SELECT gen_random_uuid(), $1, 'workflow.update', 'workflow', 'greet', now() - i * interval '1 second'
FROM generate_series(1, 2) AS i`, actor.String())
	if err != nil {
		t.Fatal(err)
	}

	lists := map[string]func(limit int, after paging.Cursor) (int, string, error){
		"runs": func(limit int, after paging.Cursor) (int, string, error) {
			runs, next, err := svc.ListRuns(ctx, workflow.RunFilter{UserID: user, Limit: limit, After: after})
			return len(runs), next, err
		},
		"audit events": func(limit int, after paging.Cursor) (int, string, error) {
			evs, next, err := svc.ListAuditEvents(ctx, workflow.AuditFilter{TargetID: "greet", Limit: limit, After: after})
			return len(evs), next, err
		},
	}
	for name, list := range lists {
		if n, next, err := list(2, paging.Cursor{}); err != nil || n != 2 || next != "" {
			t.Fatalf("%s, a full last page: %d rows, next %q, %v; want 2 and no next cursor", name, n, next, err)
		}
		n, next, err := list(1, paging.Cursor{})
		if err != nil || n != 1 || next == "" {
			t.Fatalf("%s, page 1: %d rows, next %q, %v", name, n, next, err)
		}
		after, err := paging.ParseCursor(next)
		if err != nil {
			t.Fatal(err)
		}
		if n, next, err := list(1, after); err != nil || n != 1 || next != "" {
			t.Fatalf("%s, page 2: %d rows, next %q, %v; want 1 and no next cursor", name, n, next, err)
		}
	}
}
