-- name: InsertIdempotencyKey :execrows
INSERT INTO idempotency_keys (user_id, scope, key, request_hash, status, resource_id)
VALUES ($1, $2, $3, $4, 'processing', $5)
ON CONFLICT (user_id, scope, key) DO NOTHING;

-- name: GetIdempotencyKey :one
SELECT * FROM idempotency_keys WHERE user_id = $1 AND scope = $2 AND key = $3;

-- name: ClaimIdempotencyKey :one
-- Takes over a record whose first request was abandoned (still processing
-- after the stale limit) or that outlived its retention.
UPDATE idempotency_keys
SET request_hash = @request_hash, status = 'processing', response = NULL,
    resource_id = CASE WHEN created_at < @expired_before THEN sqlc.narg('new_resource_id')::uuid ELSE resource_id END,
    created_at = CASE WHEN created_at < @expired_before THEN now() ELSE created_at END,
    updated_at = now()
WHERE user_id = @user_id AND scope = @scope AND key = @key
  AND (created_at < @expired_before OR (status = 'processing' AND updated_at < @stale_before AND request_hash = @request_hash))
RETURNING *;

-- name: CompleteIdempotencyKey :exec
UPDATE idempotency_keys SET status = 'completed', response = $4, updated_at = now()
WHERE user_id = $1 AND scope = $2 AND key = $3;

-- name: DeleteIdempotencyKey :exec
DELETE FROM idempotency_keys WHERE user_id = $1 AND scope = $2 AND key = $3;

-- name: DeleteExpiredIdempotencyKeys :execrows
DELETE FROM idempotency_keys WHERE created_at < $1;
