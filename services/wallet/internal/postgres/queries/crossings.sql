-- name: InsertCrossing :exec
INSERT INTO balance_crossings (id, user_id, kind, hold_id, threshold_cents, available_cents, outcome, topup_id)
VALUES (@id, @user_id, @kind, @hold_id, @threshold_cents, @available_cents, @outcome, sqlc.narg(topup_id));

-- name: AutoTopUpMonthCents :one
-- The automatic charges of a month that count towards the cap: pending
-- (queued or charging) or paid (topups_auto_month).
SELECT COALESCE(sum(amount_cents), 0)::bigint FROM topups
WHERE user_id = @user_id AND origin = 'auto' AND status IN ('pending', 'paid') AND created_at >= @month::timestamptz;

-- name: InsertAutoTopUp :one
INSERT INTO topups (id, user_id, amount_cents, currency, status, origin, crossing_id)
VALUES (@id, @user_id, @amount_cents, @currency, 'pending', 'auto', @crossing_id)
RETURNING *;

-- name: LinkPaymentIntent :exec
UPDATE topups SET payment_intent_id = @payment_intent_id::text, updated_at = now()
WHERE id = @id AND origin = 'auto' AND payment_intent_id IS NULL;

-- name: ListAutoTopUpCrossings :many
-- A user's latest auto top-up crossings with their top-ups (operators).
SELECT sqlc.embed(c), t.id AS t_id, t.amount_cents AS t_amount_cents, t.status AS t_status,
       t.payment_intent_id AS t_payment_intent_id, t.failure_reason AS t_failure_reason,
       t.credited_cents AS t_credited_cents, t.created_at AS t_created_at
FROM balance_crossings c
LEFT JOIN topups t ON t.id = c.topup_id
WHERE c.user_id = @user_id AND c.kind = 'auto_topup'
ORDER BY c.created_at DESC, c.id DESC
LIMIT @row_limit;
