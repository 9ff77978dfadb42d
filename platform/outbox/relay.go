package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/meterflow/meterflow/platform/database"
	notifyv1 "github.com/meterflow/meterflow/proto/gen/meterflow/notify/v1"
)

// Relay defaults; see the fields of Relay.
const (
	DefaultRelayBatch   = 256
	DefaultRelayPoll    = time.Second
	DefaultRelayTimeout = 30 * time.Second
	// MaxCallBytes bounds the events' data in one PublishEvents call, under
	// gRPC's 4 MiB message cap (a larger event goes alone: notify takes
	// up to 3 MiB of data).
	MaxCallBytes = 3 << 20
	// maxNotifyBatch is notify's bound on one PublishEvents call.
	maxNotifyBatch = 500
	backoffMin     = 200 * time.Millisecond
	backoffMax     = 30 * time.Second
)

// RelayMetrics observes a Relay (nil: none).
type RelayMetrics interface {
	// Relayed counts a batch handed over and deleted: its events, and how
	// many of them notify refused (dropped, logged).
	Relayed(events, refused int)
	// Failed counts a batch that failed as a whole and stays for a retry.
	Failed()
}

// Relay hands the rows of Table to notify in batches: it claims up to
// Batch rows (FOR UPDATE SKIP LOCKED, so several replicas share the
// table), publishes them with PublishEvents under the keys
// "<service>:outbox:<id>" and deletes them, in one transaction. A crash
// after notify answered and before the commit leaves the rows, which are
// sent again under the same keys: notify answers the first event and
// stores nothing twice. It is woken by Wake after a commit that inserted
// events, and polls every Poll for the rest (other replicas' events, a
// crashed process's, a failed batch's); when notify fails it retries
// with backoff (200 ms doubling to 30 s). See docs/adr/0021.
type Relay struct {
	// Pool is the producer's database, holding Table.
	Pool *pgxpool.Pool
	// Notify is a client of the notify service.
	Notify notifyv1.NotifyServiceClient
	// Service names the producer in idempotency keys ("workflow", ...).
	Service string
	// Batch is the most rows one transaction claims (DefaultRelayBatch
	// when 0; at most 500 go in one PublishEvents call).
	Batch int
	// Poll is the fallback interval between looks at an idle table
	// (DefaultRelayPoll when 0).
	Poll time.Duration
	// Timeout bounds one batch: claim, calls and delete
	// (DefaultRelayTimeout when 0).
	Timeout time.Duration
	Metrics RelayMetrics
	Log     *slog.Logger

	wake chan struct{}
}

// NewRelay checks r's required fields and readies it for Wake and Run.
func NewRelay(r *Relay) (*Relay, error) {
	if r == nil || r.Pool == nil || r.Notify == nil || r.Service == "" {
		return nil, errors.New("outbox: the relay needs a pool, a notify client and the service's name")
	}
	if r.Batch <= 0 {
		r.Batch = DefaultRelayBatch
	}
	if r.Poll <= 0 {
		r.Poll = DefaultRelayPoll
	}
	if r.Timeout <= 0 {
		r.Timeout = DefaultRelayTimeout
	}
	if r.Log == nil {
		r.Log = slog.New(slog.DiscardHandler)
	}
	r.wake = make(chan struct{}, 1)
	return r, nil
}

// Wake tells Run that events were committed; it never blocks, and wakes
// that come while a batch is in flight make one more batch.
func (r *Relay) Wake() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run relays until ctx ends: at once after a full batch, after Wake or
// Poll otherwise, with backoff after a failed batch (wakes do not cut a
// backoff short). A batch in flight when ctx ends is finished (bounded by
// Timeout), not cut, so a shutdown does not send a batch twice.
func (r *Relay) Run(ctx context.Context) {
	failures := 0
	for {
		n, err := r.RelayOnce(context.WithoutCancel(ctx))
		wait, wake := r.Poll, r.wake
		switch {
		case err != nil:
			failures++
			wait, wake = backoff(failures), nil
			r.Log.WarnContext(ctx, "outbox relay: batch failed; retrying", "err", err, "attempt", failures, "retry_in", wait)
		case n >= r.Batch:
			failures, wait = 0, 0
		default:
			failures = 0
		}
		if ctx.Err() != nil {
			return
		}
		if wait == 0 {
			continue
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-wake:
			t.Stop()
		case <-t.C:
		}
	}
}

// Flush relays batches until the table is empty or a batch fails, and
// returns how many events it handed over: for a shutdown's last pass and
// for tests.
func (r *Relay) Flush(ctx context.Context) (int, error) {
	total := 0
	for {
		n, err := r.RelayOnce(ctx)
		total += n
		if err != nil || n == 0 {
			return total, err
		}
	}
}

// backoff is the wait before retry number failures: 200 ms doubling to
// 30 s, with up to 20 % jitter so that replicas spread out.
func backoff(failures int) time.Duration {
	d := backoffMax
	if failures < 10 {
		d = min(backoffMin<<(failures-1), backoffMax)
	}
	return d - time.Duration(rand.Int64N(int64(d)/5+1))
}

// row is one claimed event.
type row struct {
	id    int64
	event Event
}

// claimSQL claims the oldest rows no other relay holds.
const claimSQL = `SELECT id, user_id, type, data, occurred_at, trace FROM outbox_events
ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`

// RelayOnce relays one batch: claims up to Batch rows, publishes them
// and deletes them in one transaction. It returns how many rows it
// handed over (published, or refused by notify and dropped); on an error
// nothing is deleted and the rows wait for a retry.
func (r *Relay) RelayOnce(ctx context.Context) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, r.Timeout)
	defer cancel()
	var n, refused int
	err := database.InTx(ctx, r.Pool, func(tx pgx.Tx) error {
		// The delete need not wait for its WAL flush: a delete lost in a
		// crash sends its rows again under the same keys, which notify
		// answers with the events it has (the rows themselves were
		// inserted by durable commits).
		if _, err := tx.Exec(ctx, `SET LOCAL synchronous_commit = off`); err != nil {
			return fmt.Errorf("outbox: relay transaction: %w", err)
		}
		rows, err := claim(ctx, tx, r.Batch)
		if err != nil || len(rows) == 0 {
			return err
		}
		if refused, err = r.publish(ctx, rows); err != nil {
			return err
		}
		ids := make([]int64, len(rows))
		for i, rw := range rows {
			ids[i] = rw.id
		}
		if _, err := tx.Exec(ctx, `DELETE FROM outbox_events WHERE id = ANY($1)`, ids); err != nil {
			return fmt.Errorf("outbox: delete %d relayed events: %w", len(ids), err)
		}
		n = len(rows)
		return nil
	})
	if r.Metrics != nil {
		if err != nil {
			r.Metrics.Failed()
		} else if n > 0 {
			r.Metrics.Relayed(n, refused)
		}
	}
	if err != nil {
		return 0, err
	}
	return n, nil
}

// claim reads and locks up to limit rows.
func claim(ctx context.Context, tx pgx.Tx, limit int) ([]row, error) {
	rs, err := tx.Query(ctx, claimSQL, limit)
	if err != nil {
		return nil, fmt.Errorf("outbox: claim events: %w", err)
	}
	out, err := pgx.CollectRows(rs, func(rs pgx.CollectableRow) (row, error) {
		var (
			rw    row
			trace []byte
		)
		err := rs.Scan(&rw.id, &rw.event.UserID, &rw.event.Type, &rw.event.Data, &rw.event.OccurredAt, &trace)
		if err == nil && len(trace) > 2 {
			err = json.Unmarshal(trace, &rw.event.Trace)
		}
		return rw, err
	})
	if err != nil {
		return nil, fmt.Errorf("outbox: claim events: %w", err)
	}
	return out, nil
}

// BacklogAge is how long the oldest event in Table has waited (0 when it
// is empty): for a gauge read at scrape.
func BacklogAge(ctx context.Context, pool *pgxpool.Pool) (time.Duration, error) {
	var secs float64
	err := pool.QueryRow(ctx, `SELECT coalesce((SELECT extract(epoch FROM now() - created_at)::float8
FROM outbox_events ORDER BY id LIMIT 1), 0)`).Scan(&secs)
	if err != nil {
		return 0, fmt.Errorf("outbox: backlog age: %w", err)
	}
	return time.Duration(secs * float64(time.Second)), nil
}
