-- name: EnsureAccount :exec
INSERT INTO accounts (user_id, currency) VALUES ($1, $2)
ON CONFLICT (user_id) DO NOTHING;

-- name: GetAccount :one
SELECT * FROM accounts WHERE user_id = $1;

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

-- name: AddBalanceIfAvailable :one
-- Debits only when the available balance covers it (admin debits).
UPDATE accounts
SET balance_cents = balance_cents + @amount, updated_at = now()
WHERE user_id = @user_id AND balance_cents - held_cents + @amount >= 0
RETURNING *;

-- name: LockAccount :one
SELECT * FROM accounts WHERE user_id = $1 FOR UPDATE;
