-- name: LockUserEndpoints :exec
-- Serialises the endpoint count of one user (the limit of 5).
SELECT pg_advisory_xact_lock(hashtextextended('webhook_endpoints:' || @user_id::text, 0));

-- name: CountEndpoints :one
SELECT count(*)::int FROM webhook_endpoints WHERE user_id = $1;

-- name: InsertEndpoint :exec
INSERT INTO webhook_endpoints (id, user_id, url, events, description, enabled, secret_sealed, created_at, updated_at)
VALUES (@id, @user_id, @url, @events, @description, true, @secret_sealed, @created_at, @created_at);

-- name: GetEndpoint :one
SELECT * FROM webhook_endpoints WHERE id = $1 AND user_id = $2;

-- name: LockEndpoint :one
SELECT * FROM webhook_endpoints WHERE id = @id AND (user_id = sqlc.narg(user_id) OR sqlc.narg(user_id) IS NULL) FOR UPDATE;

-- name: ListEndpoints :many
SELECT * FROM webhook_endpoints
WHERE user_id = @user_id
  AND (sqlc.narg(after_created)::timestamptz IS NULL OR (created_at, id) < (sqlc.narg(after_created)::timestamptz, sqlc.narg(after_id)::uuid))
ORDER BY created_at DESC, id DESC
LIMIT sqlc.arg(max_rows)::int;

-- name: UpdateEndpoint :exec
UPDATE webhook_endpoints SET url = @url, events = @events, description = @description, enabled = @enabled,
    disabled_reason = sqlc.narg(disabled_reason), secret_sealed = @secret_sealed,
    previous_secret_sealed = sqlc.narg(previous_secret_sealed), previous_secret_expires_at = sqlc.narg(previous_secret_expires_at),
    failing_since = sqlc.narg(failing_since), updated_at = @updated_at
WHERE id = @id;

-- name: DeleteEndpoint :execrows
DELETE FROM webhook_endpoints WHERE id = $1 AND user_id = $2;

-- name: SubscribedEndpoints :many
-- The endpoints an event fans out to, oldest first.
SELECT * FROM webhook_endpoints
WHERE user_id = @user_id AND enabled AND @event_type::text = ANY (events)
ORDER BY created_at, id;

-- name: InsertEvent :one
-- On a repeated (producer, idempotency_key) nothing is inserted and no row
-- returns (GetEventByKey then reads the first).
INSERT INTO webhook_events (id, producer, idempotency_key, request_hash, user_id, type, body, occurred_at, created_at)
VALUES (@id, @producer, @idempotency_key, @request_hash, @user_id, @type, @body, @occurred_at, @created_at)
ON CONFLICT (producer, idempotency_key) DO NOTHING
RETURNING id, producer, idempotency_key, request_hash, user_id, type, occurred_at, created_at;

-- name: InsertUnsubscribedEvent :one
-- Stores an event that no enabled endpoint of its user is subscribed to,
-- without its body, in one statement (the common case: most users have no
-- endpoints). No row returns when an endpoint is subscribed or the key was
-- used before: PublishEvent then takes the path that fans out or replays.
INSERT INTO webhook_events (id, producer, idempotency_key, request_hash, user_id, type, body, occurred_at, created_at)
SELECT @id, @producer, @idempotency_key, @request_hash, @user_id, @type, ''::bytea, @occurred_at, @created_at
WHERE NOT EXISTS (
    SELECT 1 FROM webhook_endpoints e
    WHERE e.user_id = @user_id AND e.enabled AND @type::text = ANY (e.events))
ON CONFLICT (producer, idempotency_key) DO NOTHING
RETURNING id;

-- name: GetEventByKey :one
SELECT id, producer, idempotency_key, request_hash, user_id, type, occurred_at, created_at
FROM webhook_events WHERE producer = $1 AND idempotency_key = $2;

-- name: InsertDelivery :exec
INSERT INTO webhook_deliveries (id, endpoint_id, event_id, user_id, event_type, status, next_attempt_at, created_at)
VALUES (@id, @endpoint_id, @event_id, @user_id, @event_type, 'pending', @next_attempt_at, @created_at);

-- name: LockDelivery :one
SELECT * FROM webhook_deliveries WHERE id = $1 AND user_id = $2 FOR UPDATE;

-- name: ListDeliveries :many
SELECT * FROM webhook_deliveries
WHERE user_id = @user_id
  AND (sqlc.narg(endpoint_id)::uuid IS NULL OR endpoint_id = sqlc.narg(endpoint_id))
  AND (sqlc.narg(status)::text IS NULL OR status = sqlc.narg(status))
  AND (sqlc.narg(after_created)::timestamptz IS NULL OR (created_at, id) < (sqlc.narg(after_created)::timestamptz, sqlc.narg(after_id)::uuid))
ORDER BY created_at DESC, id DESC
LIMIT sqlc.arg(max_rows)::int;

-- name: ReopenDelivery :one
UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = @now, finished_at = NULL
WHERE id = @id RETURNING *;

-- name: AttemptContext :one
-- What an attempt needs: the delivery, its endpoint and the body.
SELECT sqlc.embed(d), sqlc.embed(e), ev.body
FROM webhook_deliveries d
JOIN webhook_endpoints e ON e.id = d.endpoint_id
JOIN webhook_events ev ON ev.id = d.event_id
WHERE d.id = $1;

-- name: StartAttempt :one
UPDATE webhook_deliveries SET attempts = attempts + 1, last_attempt_at = @at, next_attempt_at = NULL
WHERE id = @id AND status = 'pending'
RETURNING attempts;

-- name: InsertAttempt :exec
INSERT INTO webhook_attempts (delivery_id, n, started_at, duration_ms, response_status, error)
VALUES (@delivery_id, @n, @started_at, @duration_ms, sqlc.narg(response_status), sqlc.narg(error))
ON CONFLICT (delivery_id, n) DO NOTHING;

-- name: FinishAttempt :execrows
-- A delivery's state after an attempt: pending with its next time, or
-- final.
UPDATE webhook_deliveries SET status = @status, next_attempt_at = sqlc.narg(next_attempt_at),
    last_response_status = sqlc.narg(last_response_status), last_error = sqlc.narg(last_error),
    finished_at = CASE WHEN @status = 'pending' THEN NULL ELSE now() END
WHERE id = @id AND status = 'pending';

-- name: FailDelivery :execrows
UPDATE webhook_deliveries SET status = 'failed', next_attempt_at = NULL, last_error = @last_error, finished_at = now()
WHERE id = @id AND status = 'pending';

-- name: PruneWebhookEvents :execrows
-- Old events whose deliveries are all final go, with their deliveries and
-- attempts.
DELETE FROM webhook_events WHERE id IN (
    SELECT ev.id FROM webhook_events AS ev
    WHERE ev.created_at < @cutoff
      AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = ev.id AND d.status = 'pending')
    ORDER BY ev.created_at
    LIMIT sqlc.arg(max_rows)::int
);

-- name: WebhookDueStats :one
-- The oldest pending delivery whose attempt is due and not running: how
-- long it has waited (0 when none).
SELECT coalesce(extract(epoch FROM now() - min(next_attempt_at)), 0)::float8 AS oldest_due_seconds
FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= now();

-- name: ClearFailing :exec
-- A success ends the endpoint's failure streak; a no-op (no row locked)
-- when there is none, so successes to one endpoint never queue on it.
UPDATE webhook_endpoints SET failing_since = NULL WHERE id = $1 AND failing_since IS NOT NULL;

-- name: EndpointsAfter :many
-- Every endpoint, by id, from after (reseal walks them all).
SELECT * FROM webhook_endpoints WHERE id > @after ORDER BY id LIMIT sqlc.arg(max_rows)::int;
