-- name: InsertHold :one
INSERT INTO holds (id, key, user_id, amount_cents, status, expires_at, description, reference_type, reference_id)
VALUES ($1, $2, $3, $4, 'held', $5, $6, $7, $8)
ON CONFLICT (key) DO NOTHING
RETURNING *;

-- name: GetHoldByKey :one
SELECT * FROM holds WHERE key = $1;

-- name: SetHoldStatus :one
-- Moves an open hold to captured or released; no row when it is not open,
-- which is what makes each transition happen exactly once.
UPDATE holds SET status = @new_status, updated_at = now()
WHERE key = @key AND status = 'held'
RETURNING *;

-- name: LockExpiredHolds :many
-- SKIP LOCKED lets several replicas sweep side by side without waiting.
SELECT * FROM holds
WHERE status = 'held' AND expires_at < @now
ORDER BY expires_at
LIMIT @row_limit
FOR UPDATE SKIP LOCKED;

-- name: ReleaseHoldByID :exec
UPDATE holds SET status = 'released', updated_at = now() WHERE id = $1 AND status = 'held';
