package outbox_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/meterflow/meterflow/platform/database/dbtest"
	"github.com/meterflow/meterflow/platform/jobs"
	"github.com/meterflow/meterflow/platform/outbox"
)

// benchEvents is the events handed over per benchmark iteration.
const benchEvents = 512

// BenchmarkEventHandOver measures what it costs a producer to hand its
// committed events to notify (an in-process fake here, so that only the
// producer's side and its database count): path=river is the event job of
// before ADR 0021 (one River job per event, fetched, worked with one
// PublishEvent each and completed by 10 workers, the workflow's
// WORKFLOW_WORKERS), path=relay/batch=N the outbox relay claiming N rows
// per transaction. Each iteration hands over 512 events committed
// beforehand (not timed); events/s is the rate of the hand-over.
func BenchmarkEventHandOver(b *testing.B) {
	b.Run("path=river", benchRiver)
	for _, batch := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("path=relay/batch=%d", batch), func(b *testing.B) {
			pool := eventTable(b)
			relay := newRelay(b, pool, &fakeNotify{}, batch)
			ctx := context.Background()
			var total time.Duration
			for b.Loop() {
				b.StopTimer()
				insertEvents(b, pool, "run.succeeded", 0, benchEvents, 64)
				b.StartTimer()
				start := time.Now()
				if n, err := relay.Flush(ctx); err != nil || n != benchEvents {
					b.Fatalf("Flush = %d, %v", n, err)
				}
				total += time.Since(start)
			}
			b.ReportMetric(float64(b.N*benchEvents)/total.Seconds(), "events/s")
		})
	}
}

// benchRiver hands events over as River event jobs.
func benchRiver(b *testing.B) {
	ctx := context.Background()
	pool, _ := dbtest.New(b, nil)
	if err := jobs.Migrate(ctx, pool, nil); err != nil {
		b.Fatal(err)
	}
	workers, queues := river.NewWorkers(), map[string]river.QueueConfig{}
	if err := outbox.RegisterEvents(workers, queues, &outbox.EventWorker{Notify: &fakeNotify{}, Service: "test"}, 10); err != nil {
		b.Fatal(err)
	}
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{Queues: queues, Workers: workers,
		FetchCooldown: time.Millisecond, FetchPollInterval: 5 * time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	if err := client.Start(ctx); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = client.Stop(context.Background()) })
	var total time.Duration
	done := 0
	for b.Loop() {
		b.StopTimer()
		if err := client.QueuePause(ctx, outbox.Queue, nil); err != nil {
			b.Fatal(err)
		}
		for i := 0; i < benchEvents; i += 64 {
			params := make([]river.InsertManyParams, 64)
			for j := range params {
				params[j] = river.InsertManyParams{Args: outbox.Event{UserID: "u", Type: "run.succeeded",
					Data: fmt.Appendf(nil, `{"n":%d}`, i+j), OccurredAt: time.Now()}}
			}
			if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { _, err := client.InsertManyTx(ctx, tx, params); return err }); err != nil {
				b.Fatal(err)
			}
		}
		done += benchEvents
		b.StartTimer()
		start := time.Now()
		if err := client.QueueResume(ctx, outbox.Queue, nil); err != nil {
			b.Fatal(err)
		}
		waitCompleted(b, pool, done)
		total += time.Since(start)
	}
	b.ReportMetric(float64(b.N*benchEvents)/total.Seconds(), "events/s")
}

// waitCompleted waits until n event jobs are completed.
func waitCompleted(b *testing.B, pool *pgxpool.Pool, n int) {
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(2 * time.Millisecond) {
		var got int
		if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM river_job WHERE state = 'completed'`).Scan(&got); err != nil {
			b.Fatal(err)
		}
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d event jobs completed", got, n)
		}
	}
}
