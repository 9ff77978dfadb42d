package outbox_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/meterflow/meterflow/platform/database/dbtest"
	"github.com/meterflow/meterflow/platform/outbox"
	notifyv1 "github.com/meterflow/meterflow/proto/gen/meterflow/notify/v1"
)

// eventTable is a fresh database with the outbox table.
func eventTable(t testing.TB) *pgxpool.Pool {
	t.Helper()
	pool, _ := dbtest.New(t, nil)
	if _, err := pool.Exec(context.Background(), outbox.TableSQL); err != nil {
		t.Fatal(err)
	}
	return pool
}

// newRelay is a relay on pool for notify that polls often (the tests wait
// for what is delivered, not for the poll).
func newRelay(t testing.TB, pool *pgxpool.Pool, notify notifyv1.NotifyServiceClient, batch int) *outbox.Relay {
	t.Helper()
	r, err := outbox.NewRelay(&outbox.Relay{Pool: pool, Notify: notify, Service: "test", Batch: batch, Poll: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// runRelays runs relays until the test ends.
func runRelays(t testing.TB, relays ...*outbox.Relay) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, r := range relays {
		wg.Go(func() { r.Run(ctx) })
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
}

// insertEvents commits n events of type typ, numbered from first (their
// data's "n"), in transactions of per events each.
func insertEvents(t testing.TB, pool *pgxpool.Pool, typ string, first, n, per int) {
	t.Helper()
	for i := first; i < first+n; i += per {
		var evs []outbox.Event
		for j := i; j < min(i+per, first+n); j++ {
			evs = append(evs, outbox.Event{UserID: fmt.Sprintf("u%d", j), Type: typ, Data: fmt.Appendf(nil, `{"n":%d}`, j),
				OccurredAt: time.UnixMilli(int64(j))})
		}
		err := pgx.BeginFunc(context.Background(), pool, func(tx pgx.Tx) error { return outbox.InsertEvents(context.Background(), tx, evs) })
		if err != nil {
			t.Fatal(err)
		}
	}
}

// waitEmpty waits until the relays have deleted every row.
func waitEmpty(t testing.TB, pool *pgxpool.Pool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var n int
		if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM outbox_events`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d events still in the outbox", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// delivered checks that notify holds events 0..n-1 once each, under one
// key each, with their user, data and time.
func delivered(t *testing.T, f *fakeNotify, n int) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	seen := map[string]string{}
	for key, e := range f.events {
		if other, dup := seen[string(e.GetDataJson())]; dup {
			t.Errorf("%s delivered under two keys: %s and %s", e.GetDataJson(), key, other)
		}
		seen[string(e.GetDataJson())] = key
	}
	for i := range n {
		key, ok := seen[fmt.Sprintf(`{"n":%d}`, i)]
		if !ok {
			t.Errorf("event %d never reached notify", i)
			continue
		}
		if e := f.events[key]; e.GetUserId() != fmt.Sprintf("u%d", i) || e.GetOccurredAtUnixMs() != int64(i) {
			t.Errorf("event %d = %v", i, e)
		}
	}
	if len(f.events) != n {
		t.Errorf("notify holds %d events, want %d", len(f.events), n)
	}
}

// TestRelayDeliversEveryEventOnce: four relays (replicas) on one table,
// eight producers committing batches of events and waking one relay each,
// notify unavailable for its first calls: every event reaches notify
// under one key, an event notify refuses is dropped without holding the
// others back, and the table ends empty.
func TestRelayDeliversEveryEventOnce(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		batch       int
		unavailable int
	}{
		{name: "batches of 64, notify down at first", batch: 64, unavailable: 3},
		{name: "batches of 1", batch: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pool := eventTable(t)
			notify := &fakeNotify{unavailable: tc.unavailable}
			relays := make([]*outbox.Relay, 4)
			for i := range relays {
				relays[i] = newRelay(t, pool, notify, tc.batch)
			}
			runRelays(t, relays...)
			const producers, each = 8, 50
			var wg sync.WaitGroup
			for p := range producers {
				wg.Go(func() {
					insertEvents(t, pool, "run.succeeded", p*each, each, 1+p%4)
					relays[p%len(relays)].Wake()
				})
			}
			insertEvents(t, pool, "bad", producers*each, 1, 1)
			wg.Wait()
			waitEmpty(t, pool)
			delivered(t, notify, producers*each)
		})
	}
}

// crashAfterPublish is notify reached by a relay whose process dies once
// after notify stored a batch and before the relay's transaction
// committed: its database connection is cut (the transaction rolls back,
// its rows stay) and the answer is lost.
type crashAfterPublish struct {
	*fakeNotify
	pool    *pgxpool.Pool
	crashed bool
}

func (c *crashAfterPublish) PublishEvents(ctx context.Context, req *notifyv1.PublishEventsRequest, opts ...grpc.CallOption) (*notifyv1.PublishEventsResponse, error) {
	resp, err := c.fakeNotify.PublishEvents(ctx, req, opts...)
	if err != nil || c.crashed {
		return resp, err
	}
	c.crashed = true
	if _, err := c.pool.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
WHERE datname = current_database() AND state LIKE 'idle in transaction%'`); err != nil {
		return nil, err
	}
	return nil, status.Error(codes.Unavailable, "the relay's process died")
}

// TestRelayCrashBetweenPublishAndDelete: events notify stored but the
// relay did not delete are sent again under the same keys, which notify
// answers with the first events: nothing is stored twice.
func TestRelayCrashBetweenPublishAndDelete(t *testing.T) {
	t.Parallel()
	pool := eventTable(t)
	notify := &crashAfterPublish{fakeNotify: &fakeNotify{}, pool: pool}
	insertEvents(t, pool, "run.failed", 0, 20, 20)
	relay := newRelay(t, pool, notify, 64)
	if _, err := relay.RelayOnce(context.Background()); err == nil {
		t.Fatal("the crashed batch succeeded")
	}
	if n, err := relay.Flush(context.Background()); err != nil || n != 20 {
		t.Fatalf("Flush = %d, %v; want the 20 events again", n, err)
	}
	delivered(t, notify.fakeNotify, 20)
	if notify.published != 40 {
		t.Errorf("notify answered %d events, want 20 twice", notify.published)
	}
}

// oldNotify is a notify without PublishEvents (an upgrade in progress).
type oldNotify struct{ *fakeNotify }

func (oldNotify) PublishEvents(context.Context, *notifyv1.PublishEventsRequest, ...grpc.CallOption) (*notifyv1.PublishEventsResponse, error) {
	return nil, status.Error(codes.Unimplemented, "unknown method PublishEvents")
}

// TestRelayFallsBackToPublishEvent: a notify without PublishEvents gets
// the events one by one, the one it refuses dropped.
func TestRelayFallsBackToPublishEvent(t *testing.T) {
	t.Parallel()
	pool := eventTable(t)
	notify := oldNotify{&fakeNotify{}}
	insertEvents(t, pool, "run.succeeded", 0, 5, 5)
	insertEvents(t, pool, "bad", 5, 1, 1)
	if n, err := newRelay(t, pool, notify, 64).Flush(context.Background()); err != nil || n != 6 {
		t.Fatalf("Flush = %d, %v; want 6", n, err)
	}
	delivered(t, notify.fakeNotify, 5)
}

// TestInsertEventsRefusesIncompleteEvents: EventJob's rules, and nothing
// is inserted.
func TestInsertEventsRefusesIncompleteEvents(t *testing.T) {
	t.Parallel()
	pool := eventTable(t)
	for _, e := range []outbox.Event{
		{Type: "run.failed", Data: []byte(`{}`)},
		{UserID: "u", Data: []byte(`{}`)},
		{UserID: "u", Type: "run.failed", Data: []byte(`[1]`)},
	} {
		err := pgx.BeginFunc(context.Background(), pool, func(tx pgx.Tx) error {
			return outbox.InsertEvents(context.Background(), tx, []outbox.Event{{UserID: "u", Type: "run.failed", Data: []byte(`{}`)}, e})
		})
		if err == nil {
			t.Errorf("InsertEvents(%+v) = nil, want an error", e)
		}
	}
	if age, err := outbox.BacklogAge(context.Background(), pool); err != nil || age != 0 {
		t.Errorf("BacklogAge = %v, %v; want 0 for an empty outbox", age, err)
	}
}
