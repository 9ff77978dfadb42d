package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/meterflow/meterflow/services/notify/internal/notify"
)

// TestAbandoned: a queued email counts as abandoned exactly when no send
// job will work it any more; a job still running (in a process that may
// have died: River has not rescued it yet) or waiting for a retry keeps
// it, and a final email is never listed.
func TestAbandoned(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, pool := newStore(t)
	cases := []struct {
		name     string
		jobState string // "" leaves the job as inserted (available); "deleted" removes it
		final    bool
		want     bool
	}{
		{"waiting for its first attempt", "", false, false},
		{"running", "running", false, false},
		{"waiting for a retry", "retryable", false, false},
		{"scheduled", "scheduled", false, false},
		{"last attempt cut short (discarded)", "discarded", false, true},
		{"job cancelled", "cancelled", false, true},
		{"job completed", "completed", false, true},
		{"job deleted", "deleted", false, true},
		{"sent, then its job discarded", "discarded", true, false},
	}
	ids := map[uuid.UUID]string{}
	for i, c := range cases {
		e, created, err := store.Create(ctx, notify.Email{
			ID: uuid.Must(uuid.NewV7()), Producer: "identity", IdempotencyKey: c.name, RequestHash: []byte{1},
			Template: "password_changed", ToAddress: "a@example.com", CreatedAt: time.Now().Add(time.Duration(i) * time.Second),
		})
		if err != nil || !created {
			t.Fatalf("%s: create: %v, %v", c.name, created, err)
		}
		ids[e.ID] = c.name
		switch c.jobState {
		case "":
		case "deleted":
			_, err = pool.Exec(ctx, `DELETE FROM river_job WHERE args->>'email_id' = $1`, e.ID.String())
		default:
			_, err = pool.Exec(ctx, `UPDATE river_job SET state = $2::river_job_state, attempt = max_attempts,
				finalized_at = CASE WHEN $2 IN ('discarded', 'cancelled', 'completed') THEN now() END
				WHERE args->>'email_id' = $1`, e.ID.String(), c.jobState)
		}
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if c.final {
			if err := store.Finish(ctx, e.ID, notify.StatusSent, ""); err != nil {
				t.Fatal(err)
			}
		}
	}
	got, err := store.Abandoned(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, e := range got {
		listed[ids[e.ID]] = true
		if e.Template != "password_changed" || e.Status != notify.StatusQueued {
			t.Errorf("%s listed as %+v", ids[e.ID], e)
		}
	}
	for _, c := range cases {
		if listed[c.name] != c.want {
			t.Errorf("%s: abandoned = %v, want %v", c.name, listed[c.name], c.want)
		}
	}
	if first, err := store.Abandoned(ctx, 1); err != nil || len(first) != 1 || ids[first[0].ID] != "last attempt cut short (discarded)" {
		t.Errorf("Abandoned(limit 1) = %v, %v; want the oldest only", first, err)
	}
}
