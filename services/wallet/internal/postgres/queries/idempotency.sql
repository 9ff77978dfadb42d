-- name: InsertIdempotencyKey :execrows
-- created_at and updated_at are the wallet's clock (@now), which the rules
-- compare them with (wallet.KeyedRequest.Decide, the sweeper).
INSERT INTO idempotency_keys (user_id, scope, key, request_hash, status, resource_id, created_at, updated_at)
VALUES (@user_id, @scope, @key, @request_hash, 'processing', @resource_id, @now, @now)
ON CONFLICT (user_id, scope, key) DO NOTHING;

-- name: LockIdempotencyKey :one
-- Locks a stored key until the transaction ends, so the decision about it
-- (wallet.KeyedRequest.Decide) and the claim that may follow see one state.
SELECT * FROM idempotency_keys WHERE user_id = $1 AND scope = $2 AND key = $3 FOR UPDATE;

-- name: ClaimIdempotencyKey :exec
-- Writes a new request over a locked record (Decide said Claim): processing
-- again, under its hash and resource id; renew restarts an expired record's
-- retention.
UPDATE idempotency_keys
SET request_hash = @request_hash, status = 'processing', response = NULL, resource_id = @resource_id::uuid,
    created_at = CASE WHEN @renew::boolean THEN @now::timestamptz ELSE created_at END,
    updated_at = @now::timestamptz
WHERE user_id = @user_id AND scope = @scope AND key = @key;

-- name: CompleteIdempotencyKey :exec
UPDATE idempotency_keys SET status = 'completed', response = $4, updated_at = now()
WHERE user_id = $1 AND scope = $2 AND key = $3;

-- name: DeleteIdempotencyKey :exec
DELETE FROM idempotency_keys WHERE user_id = $1 AND scope = $2 AND key = $3;

-- name: DeleteExpiredIdempotencyKeys :execrows
DELETE FROM idempotency_keys WHERE created_at < $1;
