-- name: InsertTopUp :one
INSERT INTO topups (id, user_id, amount_cents, currency, status)
VALUES ($1, $2, $3, $4, 'pending')
RETURNING *;

-- name: GetTopUp :one
SELECT * FROM topups WHERE id = $1;

-- name: SetTopUpSession :one
UPDATE topups
SET checkout_session_id = @checkout_session_id, checkout_url = @checkout_url,
    payment_intent_id = COALESCE(payment_intent_id, sqlc.narg('payment_intent_id')), updated_at = now()
WHERE id = @id
RETURNING *;

-- name: FailPendingTopUp :exec
UPDATE topups SET status = 'failed', updated_at = now()
WHERE id = $1 AND status = 'pending' AND checkout_session_id IS NULL;

-- name: LockTopUpBySession :one
SELECT * FROM topups WHERE checkout_session_id = $1 FOR UPDATE;

-- name: LockTopUpByPaymentIntent :one
SELECT * FROM topups WHERE payment_intent_id = $1 FOR UPDATE;

-- name: LockTopUp :one
SELECT * FROM topups WHERE id = $1 FOR UPDATE;

-- name: UpdateTopUpState :one
UPDATE topups
SET status = @status, payment_intent_id = sqlc.narg('payment_intent_id'),
    credited_cents = @credited_cents, credited_at = sqlc.narg('credited_at'),
    amount_refunded_cents = @amount_refunded_cents, chargeback_cents = @chargeback_cents,
    parked_at = sqlc.narg('parked_at'), parked_reason = @parked_reason,
    failure_reason = @failure_reason, updated_at = now()
WHERE id = @id
RETURNING *;

-- name: InsertStripeEvent :execrows
INSERT INTO stripe_events (event_id, type, source) VALUES (@event_id, @type, @source)
ON CONFLICT (event_id) DO NOTHING;

-- name: ListParkedTopUps :many
-- Keyset page of parked top-ups, most recently parked first (topups_parked).
SELECT * FROM topups
WHERE status = 'parked'
  AND (parked_at, id) < (@before_parked_at::timestamptz, @before_id::uuid)
ORDER BY parked_at DESC, id DESC
LIMIT @row_limit;
