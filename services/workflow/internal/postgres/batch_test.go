package postgres_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/meterflow/meterflow/services/workflow/internal/postgres"
	"github.com/meterflow/meterflow/services/workflow/internal/workflow"
)

// batchLog records the batches a store wrote (WriteBatches.Observe).
type batchLog struct {
	mu       sync.Mutex
	sizes    map[string][]int
	fellBack map[string]int
}

func (l *batchLog) observe(kind string, size int, fellBack bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sizes[kind] = append(l.sizes[kind], size)
	if fellBack {
		l.fellBack[kind]++
	}
}

// largest returns the largest batch of kind, and how many fell back.
func (l *batchLog) largest(kind string) (size, fellBack int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, n := range l.sizes[kind] {
		size = max(size, n)
	}
	return size, l.fellBack[kind]
}

// newBatchedStore is newStore with its writes batched, up to 64 a batch.
func newBatchedStore(t *testing.T) (*postgres.Store, *pgxpool.Pool, *batchLog) {
	t.Helper()
	store, pool := newStore(t)
	log := &batchLog{sizes: map[string][]int{}, fellBack: map[string]int{}}
	store.BatchWrites(postgres.WriteBatches{Max: 64, Observe: log.observe})
	return store, pool, log
}

// newRun is a sync run of user about to be created, with idempotency key
// key ("" for none).
func newRun(user uuid.UUID, key string) workflow.Run {
	st := workflow.StateRunningPending
	return workflow.Run{
		ID: uuid.New(), UserID: user, Workflow: "greet", Status: st.Status, Hold: st.Hold, FeeCents: 10,
		TimeoutMS: 30000, Input: []byte(`{"name": "Ada"}`), RequestHash: []byte{1}, IdempotencyKey: key,
		DeadlineAt: time.Now().Add(5 * time.Minute).Truncate(time.Microsecond), Completion: workflow.CompletionResponse,
	}
}

// waitFor polls cond until it holds, failing the test after 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited 10 s for %s", what)
		}
	}
}

// lockWaits counts the test database's sessions waiting for a lock.
func lockWaits(t *testing.T, pool *pgxpool.Pool) int {
	t.Helper()
	var n int
	err := pool.QueryRow(context.Background(),
		`SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestCreateBatch: a batch answers each run as one by one would: a run
// whose key is stored answers the stored run, created=false; a batch with
// a bad run (input that is not JSON) falls back to one by one, and only
// the bad run fails.
func TestCreateBatch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, _, log := newBatchedStore(t)
	user := uuid.New()
	stored, _, err := store.CreateRun(ctx, newRun(user, "stored"))
	if err != nil {
		t.Fatal(err)
	}
	poisoned := newRun(user, "")
	poisoned.Input = []byte(`{"name": `)
	for _, tc := range []struct {
		name     string
		runs     []workflow.Run
		want     []string // "new", "stored" or "error"
		fellBack int
	}{
		{"fresh and repeated keys", []workflow.Run{newRun(user, ""), newRun(user, "stored"), newRun(user, "k1"), newRun(uuid.New(), "stored")},
			[]string{"new", "stored", "new", "new"}, 0},
		{"a poisoned run falls back", []workflow.Run{newRun(user, "k2"), poisoned, newRun(user, "stored"), newRun(user, "")},
			[]string{"new", "error", "stored", "new"}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, before := log.largest("create")
			runs, news, errs := store.CreateBatch(ctx, tc.runs)
			for i, want := range tc.want {
				var got string
				switch {
				case errs[i] != nil:
					got = "error"
				case news[i] && runs[i].ID == tc.runs[i].ID && runs[i].Input != nil:
					got = "new"
				case !news[i] && runs[i].ID == stored.ID:
					got = "stored"
				default:
					got = fmt.Sprintf("run %s (created %v) for run %s", runs[i].ID, news[i], tc.runs[i].ID)
				}
				if got != want {
					t.Errorf("run %d: %s, want %s", i, got, want)
				}
			}
			if _, after := log.largest("create"); after-before != tc.fellBack {
				t.Errorf("%d batches fell back, want %d", after-before, tc.fellBack)
			}
		})
	}
}

// TestConcurrentCreatesWithRepeatedKeys: calls that queue behind a running
// insert form batches; a key repeated in the queue waits for the next
// batch, so exactly one call of each key creates its run and the others
// answer that run, created=false.
func TestConcurrentCreatesWithRepeatedKeys(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, pool, log := newBatchedStore(t)
	user := uuid.New()

	// Stall the batcher: a run of key "stall" inserted by an open
	// transaction makes CreateRun of that key wait for its commit.
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	first := newRun(user, "stall")
	if _, err := tx.Exec(ctx, `INSERT INTO runs (id, user_id, workflow_slug, status, hold_state, fee_cents, timeout_ms, input,
		idempotency_key, request_hash, deadline_at) VALUES ($1, $2, 'greet', 'running', 'pending', 10, 30000, '{}', 'stall', '\x01', now())`,
		first.ID, user.String()); err != nil {
		t.Fatal(err)
	}
	stalled := make(chan error, 1)
	go func() {
		r, isNew, err := store.CreateRun(ctx, newRun(user, "stall"))
		if err == nil && (isNew || r.ID != first.ID) {
			err = fmt.Errorf("the stalled create got run %s (created %v), want %s", r.ID, isNew, first.ID)
		}
		stalled <- err
	}()
	waitFor(t, "the stalled create", func() bool { return lockWaits(t, pool) == 1 })

	const keys, repeats, keyless = 8, 4, 8
	type answer struct {
		key   string
		run   workflow.Run
		isNew bool
		err   error
	}
	answers := make(chan answer, keys*repeats+keyless)
	var wg sync.WaitGroup
	for i := range keys*repeats + keyless {
		key := ""
		if i < keys*repeats {
			key = fmt.Sprintf("k%d", i%keys)
		}
		wg.Go(func() {
			r, isNew, err := store.CreateRun(ctx, newRun(user, key))
			answers <- answer{key, r, isNew, err}
		})
	}
	waitFor(t, "the queued creates", func() bool { c, _ := store.Queued(); return c == keys*repeats+keyless })
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(answers)
	if err := <-stalled; err != nil {
		t.Fatal(err)
	}

	runOf, created := map[string]uuid.UUID{}, map[string]int{}
	for a := range answers {
		if a.err != nil {
			t.Fatalf("create (key %q): %v", a.key, a.err)
		}
		if a.isNew {
			created[a.key]++
		}
		if a.key == "" {
			continue
		}
		if id, ok := runOf[a.key]; ok && id != a.run.ID {
			t.Errorf("key %s answered runs %s and %s", a.key, id, a.run.ID)
		}
		runOf[a.key] = a.run.ID
	}
	if created[""] != keyless || len(runOf) != keys {
		t.Errorf("%d keyless runs created, want %d; %d keys answered, want %d", created[""], keyless, len(runOf), keys)
	}
	for key := range runOf {
		if created[key] != 1 {
			t.Errorf("key %s: %d runs created, want 1", key, created[key])
		}
	}
	var rows int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM runs`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if size, fellBack := log.largest("create"); rows != 1+keys+keyless || size < keys || fellBack != 0 {
		t.Errorf("%d runs stored, want %d; largest batch %d (want >= %d), %d fell back", rows, 1+keys+keyless, size, keys, fellBack)
	}
}
