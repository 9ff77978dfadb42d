package app_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/meterflow/meterflow/platform/database/dbtest"
	"github.com/meterflow/meterflow/platform/outbox"
	notifyv1 "github.com/meterflow/meterflow/proto/gen/meterflow/notify/v1"
)

// producer is a producer's database with the outbox table, holding n
// events of user (data {"n":i}) committed in transactions of 16.
func producer(t testing.TB, user string, n int) *pgxpool.Pool {
	t.Helper()
	pool, _ := dbtest.New(t, nil)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, outbox.TableSQL); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i += 16 {
		var evs []outbox.Event
		for j := i; j < min(i+16, n); j++ {
			evs = append(evs, outbox.Event{UserID: user, Type: "run.succeeded", Data: fmt.Appendf(nil, `{"n":%d}`, j), OccurredAt: time.Now()})
		}
		if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return outbox.InsertEvents(ctx, tx, evs) }); err != nil {
			t.Fatal(err)
		}
	}
	return pool
}

// dyingRelay is the relay's notify client in a process that dies after
// notify stored a batch and before the relay's transaction committed,
// once every `every` calls: the producer's connection is cut (its
// transaction rolls back, the rows stay) and notify's answer is lost.
type dyingRelay struct {
	notifyv1.NotifyServiceClient
	producer *pgxpool.Pool
	mu       sync.Mutex
	calls    int
	every    int
	deaths   int
}

func (d *dyingRelay) PublishEvents(ctx context.Context, req *notifyv1.PublishEventsRequest, opts ...grpc.CallOption) (*notifyv1.PublishEventsResponse, error) {
	resp, err := d.NotifyServiceClient.PublishEvents(ctx, req, opts...)
	d.mu.Lock()
	d.calls++
	die := err == nil && d.calls%d.every == 1
	if die {
		d.deaths++
	}
	d.mu.Unlock()
	if !die {
		return resp, err
	}
	if _, err := d.producer.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
WHERE datname = current_database() AND state LIKE 'idle in transaction%' AND pid <> pg_backend_pid()`); err != nil {
		return nil, err
	}
	return nil, status.Error(codes.Unavailable, "the relay's process died")
}

// TestRelayToNotifyStoresEachEventOnce: relays of two replicas hand 300
// events (of a user without endpoints, then of one with) to the real
// notify, dying between notify's answer and their
// commit every third call; notify stores each event once and its user's
// endpoint gets one delivery per event, however often a batch was sent.
func TestRelayToNotifyStoresEachEventOnce(t *testing.T) {
	t.Parallel()
	hh := setupHooks(t, nil)
	rcv := startReceiver(t, always(200))
	user := hh.identity.addUser(uuid.NewString()+"@example.com", true)
	other := hh.identity.addUser(uuid.NewString()+"@example.com", true)
	epID := hh.create(t, user, rcv.URL, "run.succeeded").GetEndpoint().GetId()
	const n = 300
	for i, tc := range []struct {
		user       string
		deliveries int
	}{{other, 0}, {user, n}} {
		pool := producer(t, tc.user, n)
		client := &dyingRelay{NotifyServiceClient: hh.events, producer: pool, every: 3}
		var wg sync.WaitGroup
		for range 2 {
			relay, err := outbox.NewRelay(&outbox.Relay{Pool: pool, Notify: client, Service: fmt.Sprintf("producer%d", i), Batch: 32})
			if err != nil {
				t.Fatal(err)
			}
			wg.Go(func() {
				for {
					left := 0
					// A cut connection fails a batch, or this count: try again.
					if _, err := relay.Flush(context.Background()); err == nil {
						err := pool.QueryRow(context.Background(), `SELECT count(*) FROM outbox_events`).Scan(&left)
						if err == nil && left == 0 {
							return
						}
					}
				}
			})
		}
		wg.Wait()
		var stored, distinct int
		if err := hh.pool.QueryRow(context.Background(), `SELECT count(*), count(DISTINCT idempotency_key) FROM webhook_events WHERE user_id = $1`,
			tc.user).Scan(&stored, &distinct); err != nil {
			t.Fatal(err)
		}
		if stored != n || distinct != n || client.deaths == 0 {
			t.Errorf("notify stored %d events (%d keys) for %d sent, after %d deaths; want %d", stored, distinct, n, client.deaths, n)
		}
		var deliveries, events int
		if err := hh.pool.QueryRow(context.Background(), `SELECT count(*), count(DISTINCT event_id) FROM webhook_deliveries WHERE user_id = $1 AND endpoint_id = $2`,
			tc.user, epID).Scan(&deliveries, &events); err != nil {
			t.Fatal(err)
		}
		if deliveries != tc.deliveries || events != tc.deliveries {
			t.Errorf("%d deliveries of %d events, want %d", deliveries, events, tc.deliveries)
		}
	}
}
