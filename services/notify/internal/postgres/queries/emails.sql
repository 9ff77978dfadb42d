-- name: InsertEmail :one
-- Stores a queued email; on a repeated (producer, idempotency_key) nothing
-- is inserted and no row returns (GetEmailByKey then reads the first).
INSERT INTO emails (id, producer, idempotency_key, request_hash, template, to_user_id, to_address, data, created_at)
VALUES (@id, @producer, @idempotency_key, @request_hash, @template, sqlc.narg(to_user_id), sqlc.narg(to_address), @data, @created_at)
ON CONFLICT (producer, idempotency_key) DO NOTHING
RETURNING *;

-- name: GetEmailByKey :one
SELECT * FROM emails WHERE producer = $1 AND idempotency_key = $2;

-- name: GetEmail :one
SELECT * FROM emails WHERE id = $1;

-- The writes below change a queued email only; a final one is left alone
-- and no row is affected.

-- name: RecordAttempt :execrows
UPDATE emails SET attempts = greatest(attempts, sqlc.arg(attempt)::int), last_attempt_at = now()
WHERE id = @id AND status = 'queued';

-- name: RecordError :execrows
UPDATE emails SET last_error = @last_error WHERE id = @id AND status = 'queued';

-- name: FinishEmail :execrows
-- A final email keeps no data: the template's fields may hold a link with
-- a token. A sent email keeps the error of its last failed attempt.
UPDATE emails SET status = @status, last_error = coalesce(sqlc.narg(last_error), last_error), data = '{}', finished_at = now()
WHERE id = @id AND status = 'queued';

-- name: PruneEmails :execrows
DELETE FROM emails WHERE id IN (
    SELECT old.id FROM emails AS old
    WHERE old.status <> 'queued' AND old.finished_at < @cutoff
    ORDER BY old.finished_at
    LIMIT sqlc.arg(max_rows)::int
);

-- name: QueuedStats :one
-- The backlog: how many emails wait and how long the oldest has waited
-- (0 when none), for the queue gauges.
SELECT count(*)::bigint AS queued,
       coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 AS oldest_age_seconds
FROM emails WHERE status = 'queued';
