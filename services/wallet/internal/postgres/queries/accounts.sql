-- name: EnsureAccount :exec
INSERT INTO accounts (user_id, currency) VALUES ($1, $2)
ON CONFLICT (user_id) DO NOTHING;

-- name: GetAccounts :many
SELECT * FROM accounts WHERE user_id = ANY(@user_ids::uuid[]);

-- name: UnholdFunds :one
UPDATE accounts
SET held_cents = held_cents - @amount, updated_at = now()
WHERE user_id = @user_id
RETURNING *;

-- name: AddBalance :one
UPDATE accounts
SET balance_cents = balance_cents + @amount, updated_at = now()
WHERE user_id = @user_id
RETURNING *;

-- name: LockAccount :one
-- Locks the account until the transaction ends: an adjustment decides on
-- the balance it read (wallet.decideAdjustment) and no reserve, capture or
-- other change can move it in between.
SELECT * FROM accounts WHERE user_id = $1 FOR UPDATE;

-- name: GetAccount :one
SELECT * FROM accounts WHERE user_id = $1;

-- name: SetInDebt :exec
UPDATE accounts
SET in_debt_since = CASE WHEN @in_debt::boolean THEN COALESCE(in_debt_since, now()) END
WHERE user_id = @user_id AND (in_debt_since IS NOT NULL) <> @in_debt::boolean;

-- name: ListDebts :many
SELECT * FROM accounts
WHERE in_debt_since IS NOT NULL
  AND (in_debt_since, user_id) < (@before_since::timestamptz, @before_id::uuid)
ORDER BY in_debt_since DESC, user_id DESC
LIMIT @row_limit;
