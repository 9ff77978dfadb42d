-- name: LockDispute :one
SELECT * FROM disputes WHERE dispute_id = $1 FOR UPDATE;

-- name: UpsertDispute :exec
INSERT INTO disputes (id, dispute_id, user_id, topup_id, payment_intent_id, amount_cents, currency, status, held_cents, closed_at)
VALUES (@id, @dispute_id, @user_id, @topup_id, @payment_intent_id, @amount_cents, @currency, @status, @held_cents, sqlc.narg(closed_at))
ON CONFLICT (dispute_id) DO UPDATE
SET amount_cents = EXCLUDED.amount_cents, status = EXCLUDED.status, held_cents = EXCLUDED.held_cents,
    closed_at = EXCLUDED.closed_at, updated_at = now();

-- name: AddHeld :exec
-- A dispute's hold: part of held_cents, so the available balance drops
-- and reserve_hold refuses what it cannot cover.
UPDATE accounts SET held_cents = held_cents + @amount, updated_at = now() WHERE user_id = @user_id;

-- name: ListDisputes :many
SELECT * FROM disputes
WHERE (NOT @open_only::boolean OR status = 'open')
  AND (created_at, id) < (@before_created_at::timestamptz, @before_id::uuid)
ORDER BY created_at DESC, id DESC
LIMIT @row_limit;

-- name: ListUserDisputes :many
SELECT * FROM disputes WHERE user_id = $1 ORDER BY created_at DESC, id DESC LIMIT @row_limit;
