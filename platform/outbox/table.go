package outbox

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Table is the table of events waiting for the Relay, in the producer's
// database, in the same schema as the tables whose changes cause them.
const Table = "outbox_events"

// TableSQL creates Table; a producer's migration holds the same statement
// (the workflow's 00007_outbox_events.sql). Rows are inserted by
// InsertEvents and deleted by the Relay once notify has them: a row is an
// event not yet handed over. id orders them and names each in its
// idempotency key ("<service>:outbox:<id>").
const TableSQL = `CREATE TABLE outbox_events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     text        NOT NULL,
    type        text        NOT NULL,
    data        bytea       NOT NULL,
    occurred_at timestamptz NOT NULL,
    trace       jsonb       NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now()
)`

// insertEventsSQL inserts many events in one statement.
const insertEventsSQL = `INSERT INTO outbox_events (user_id, type, data, occurred_at, trace)
SELECT e.user_id, e.type, e.data, e.occurred_at, e.trace::jsonb
FROM unnest($1::text[], $2::text[], $3::bytea[], $4::timestamptz[], $5::text[]) AS e(user_id, type, data, occurred_at, trace)`

// InsertEvents inserts evs as rows of Table in tx, in one statement: the
// events reach notify only if tx commits, and once per commit (the caller
// inserts them in the transaction that decides them). Each must pass
// EventJob's checks; each keeps its own Trace (Trace(ctx) of the call
// that caused it) and an OccurredAt of zero becomes now. The caller wakes
// its Relay after the commit (Relay.Wake).
func InsertEvents(ctx context.Context, tx pgx.Tx, evs []Event) error {
	if len(evs) == 0 {
		return nil
	}
	n := len(evs)
	users, types, traces := make([]string, n), make([]string, n), make([]string, n)
	data, at := make([][]byte, n), make([]time.Time, n)
	for i, e := range evs {
		if err := check(e); err != nil {
			return err
		}
		if e.OccurredAt.IsZero() {
			e.OccurredAt = time.Now()
		}
		trace := []byte("{}")
		if len(e.Trace) > 0 {
			var err error
			if trace, err = json.Marshal(e.Trace); err != nil {
				return fmt.Errorf("outbox: the %s event's trace: %w", e.Type, err)
			}
		}
		users[i], types[i], data[i], at[i], traces[i] = e.UserID, e.Type, e.Data, e.OccurredAt, string(trace)
	}
	if _, err := tx.Exec(ctx, insertEventsSQL, users, types, data, at, traces); err != nil {
		return fmt.Errorf("outbox: insert %d events: %w", n, err)
	}
	return nil
}
