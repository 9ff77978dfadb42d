package postgres_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/meterflow/meterflow/platform/database"
	"github.com/meterflow/meterflow/platform/database/dbtest"
	"github.com/meterflow/meterflow/services/workflow/internal/postgres"
	"github.com/meterflow/meterflow/services/workflow/internal/workflow"
	"github.com/meterflow/meterflow/services/workflow/migrations"
)

// benchStore is a store as the service opens it (a pool of
// database.DefaultMaxConns) on a fresh database with one workflow.
func benchStore(b *testing.B) (*postgres.Store, *pgxpool.Pool) {
	b.Helper()
	ctx := context.Background()
	_, url := dbtest.New(b, migrations.FS)
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		b.Fatal(err)
	}
	cfg.MaxConns = database.DefaultMaxConns
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	return storeOn(b, pool), pool
}

// benchWrites runs b.N calls of op (op(i) for i in 0..b.N-1) from callers
// goroutines at once, for each batch max, and reports the calls' median
// latency (p50-µs) and the runs written per statement (runs/stmt) beside
// the time per call.
func benchWrites(b *testing.B, store *postgres.Store, prepare func(b *testing.B), op func(ctx context.Context, i int) error) {
	for _, max := range []int{1, 64} {
		for _, callers := range []int{1, 8, 64} {
			b.Run(fmt.Sprintf("max=%d/callers=%d", max, callers), func(b *testing.B) {
				var statements, runs atomic.Int64
				store.BatchWrites(postgres.WriteBatches{Max: max, Observe: func(_ string, size int, _ bool) {
					statements.Add(1)
					runs.Add(int64(size))
				}})
				b.StopTimer()
				prepare(b)
				ctx := context.Background()
				var next atomic.Int64
				lat := make([][]time.Duration, callers)
				var wg sync.WaitGroup
				b.StartTimer()
				for c := range callers {
					wg.Go(func() {
						for i := int(next.Add(1)) - 1; i < b.N; i = int(next.Add(1)) - 1 {
							start := time.Now()
							if err := op(ctx, i); err != nil {
								b.Error(err)
								return
							}
							lat[c] = append(lat[c], time.Since(start))
						}
					})
				}
				wg.Wait()
				b.StopTimer()
				all := slices.Concat(lat...)
				slices.Sort(all)
				if len(all) > 0 {
					b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-µs")
				}
				if n := statements.Load(); n > 0 {
					b.ReportMetric(float64(runs.Load())/float64(n), "runs/stmt")
				} else {
					b.ReportMetric(1, "runs/stmt") // one by one: no batcher
				}
			})
		}
	}
}

// BenchmarkCreateRun inserts sync runs, a third of them with an
// idempotency key, one by one (max=1, as before batching) and batched
// (max=64), from 1, 8 and 64 callers at once.
func BenchmarkCreateRun(b *testing.B) {
	store, _ := benchStore(b)
	user := uuid.New()
	benchWrites(b, store, func(*testing.B) {}, func(ctx context.Context, i int) error {
		key := ""
		if i%3 == 0 {
			key = uuid.NewString()
		}
		_, created, err := store.CreateRun(ctx, newRun(user, key))
		if err == nil && !created {
			err = fmt.Errorf("run %d not created", i)
		}
		return err
	})
}

// BenchmarkApply settles runs (running/capturing to succeeded/captured:
// the UPDATE and the run's webhook event), one by one (max=1) and batched
// (max=64), from 1, 8 and 64 callers at once.
func BenchmarkApply(b *testing.B) {
	store, pool := benchStore(b)
	var ids []uuid.UUID
	prepare := func(b *testing.B) {
		ids = make([]uuid.UUID, b.N)
		for i := range ids {
			ids[i] = uuid.New()
		}
		_, err := pool.Exec(context.Background(), `
INSERT INTO runs (id, user_id, workflow_slug, status, hold_state, fee_cents, timeout_ms, input, request_hash, deadline_at, started_at)
SELECT id, $2, 'greet', 'running', 'capturing', 10, 30000, '{"a": 1}', '\x00', now() + interval '1 hour', now()
FROM unnest($1::uuid[]) AS id`, ids, uuid.NewString())
		if err != nil {
			b.Fatal(err)
		}
	}
	captured := workflow.Step(workflow.EventCaptured)
	benchWrites(b, store, prepare, func(ctx context.Context, i int) error {
		_, err := store.Apply(ctx, ids[i], captured)
		return err
	})
}
