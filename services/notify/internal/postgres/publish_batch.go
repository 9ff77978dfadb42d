package postgres

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/meterflow/meterflow/services/notify/internal/webhooks"
)

// publishUnsubscribedSQL is InsertUnsubscribedEvent (queries/webhooks.sql)
// for many events in one statement, in the batch's order, so that of two
// events with one key the first is stored. Written by hand: sqlc cannot
// name unnest's columns.
const publishUnsubscribedSQL = `INSERT INTO webhook_events (id, producer, idempotency_key, request_hash, user_id, type, body, occurred_at, created_at)
SELECT e.id, e.producer, e.idempotency_key, e.request_hash, e.user_id, e.type, ''::bytea, e.occurred_at, e.created_at
FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bytea[], $5::uuid[], $6::text[], $7::timestamptz[], $8::timestamptz[])
    WITH ORDINALITY AS e(id, producer, idempotency_key, request_hash, user_id, type, occurred_at, created_at, ord)
WHERE NOT EXISTS (
    SELECT 1 FROM webhook_endpoints w
    WHERE w.user_id = e.user_id AND w.enabled AND e.type = ANY (w.events))
ORDER BY e.ord
ON CONFLICT (producer, idempotency_key) DO NOTHING
RETURNING id`

// PublishUnsubscribed implements webhooks.Store: one statement, without
// a transaction, reading the endpoints in its snapshot as
// InsertUnsubscribedEvent does.
func (s *WebhookStore) PublishUnsubscribed(ctx context.Context, evs []webhooks.Event) ([]bool, error) {
	n := len(evs)
	var (
		ids, users          = make([]uuid.UUID, n), make([]uuid.UUID, n)
		producers, keys     = make([]string, n), make([]string, n)
		types               = make([]string, n)
		hashes              = make([][]byte, n)
		occurred, createdAt = make([]time.Time, n), make([]time.Time, n)
		index               = make(map[uuid.UUID]int, n)
	)
	for i, ev := range evs {
		ids[i], users[i], producers[i], keys[i], types[i] = ev.ID, ev.UserID, ev.Producer, ev.IdempotencyKey, ev.Type
		hashes[i], occurred[i], createdAt[i] = ev.RequestHash, ev.OccurredAt, ev.CreatedAt
		index[ev.ID] = i
	}
	rows, err := s.pool.Query(ctx, publishUnsubscribedSQL, ids, producers, keys, hashes, users, types, occurred, createdAt)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	stored := make([]bool, n)
	for rows.Next() {
		var id uuid.UUID
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		if i, ok := index[id]; ok {
			stored[i] = true
		}
	}
	return stored, rows.Err()
}
