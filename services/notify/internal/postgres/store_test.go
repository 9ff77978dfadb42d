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
	"github.com/meterflow/meterflow/services/notify/internal/notify"
	"github.com/meterflow/meterflow/services/notify/internal/postgres"
	"github.com/meterflow/meterflow/services/notify/internal/queue"
	"github.com/meterflow/meterflow/services/notify/migrations"
)

// newStore returns a store on a fresh database with River's tables.
func newStore(t *testing.T) (*postgres.Store, *pgxpool.Pool) {
	t.Helper()
	pool, _ := dbtest.New(t, migrations.FS)
	if err := jobs.Migrate(context.Background(), pool, nil); err != nil {
		t.Fatal(err)
	}
	inserter, err := queue.NewInsertOnly(pool, nil)
	if err != nil {
		t.Fatal(err)
	}
	return postgres.NewStore(pool, inserter), pool
}

// TestFinishAndPrune: a final email keeps no data and no longer changes;
// pruning removes final emails past the cutoff only, never a queued one.
func TestFinishAndPrune(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, pool := newStore(t)
	create := func(key string) notify.Email {
		e, created, err := store.Create(ctx, notify.Email{
			ID: uuid.Must(uuid.NewV7()), Producer: "identity", IdempotencyKey: key, RequestHash: []byte{1},
			Template: "verify_email", ToUserID: uuid.New(), Data: map[string]string{"link": "https://x/?token=t"}, CreatedAt: time.Now(),
		})
		if err != nil || !created {
			t.Fatalf("create %s: %v, %v", key, created, err)
		}
		return e
	}
	old, recent, queued := create("a"), create("b"), create("c")
	for _, e := range []notify.Email{old, recent} {
		if err := store.Finish(ctx, e.ID, notify.StatusSent, ""); err != nil {
			t.Fatal(err)
		}
	}
	if err := store.Finish(ctx, old.ID, notify.StatusFailed, "late"); !errors.Is(err, notify.ErrEmailNotFound) {
		t.Fatalf("finishing a final email again: %v", err)
	}
	got, err := store.Email(ctx, old.ID)
	if err != nil || got.Status != notify.StatusSent || len(got.Data) != 0 || got.FinishedAt == nil {
		t.Fatalf("sent email = %+v, %v; want its data erased", got, err)
	}
	if _, err := pool.Exec(ctx, `UPDATE emails SET finished_at = now() - interval '40 days' WHERE id = $1`, old.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `UPDATE emails SET created_at = now() - interval '40 days' WHERE id = $1`, queued.ID); err != nil {
		t.Fatal(err)
	}
	n, err := store.Prune(ctx, time.Now().Add(-30*24*time.Hour), 10)
	if err != nil || n != 1 {
		t.Fatalf("pruned %d, %v; want 1", n, err)
	}
	if _, err := store.Email(ctx, old.ID); !errors.Is(err, notify.ErrEmailNotFound) {
		t.Fatalf("old email after pruning: %v", err)
	}
	for _, e := range []notify.Email{recent, queued} {
		if _, err := store.Email(ctx, e.ID); err != nil {
			t.Fatalf("email %s was pruned: %v", e.IdempotencyKey, err)
		}
	}
	if st, err := store.QueueStats(ctx); err != nil || st.Queued != 1 || st.OldestQueued < 39*24*time.Hour {
		t.Fatalf("queue stats = %+v, %v", st, err)
	}
}
