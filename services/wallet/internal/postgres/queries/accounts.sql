-- name: EnsureAccount :exec
INSERT INTO accounts (user_id, currency) VALUES ($1, $2)
ON CONFLICT (user_id) DO NOTHING;

-- name: GetAccount :one
SELECT * FROM accounts WHERE user_id = $1;

-- name: GetAccounts :many
SELECT * FROM accounts WHERE user_id = ANY(@user_ids::uuid[]);

-- name: HoldFunds :execrows
-- The whole reservation check in one conditional statement: the row lock it
-- takes serializes concurrent reserves of one account.
UPDATE accounts
SET held_cents = held_cents + @amount, updated_at = now()
WHERE user_id = @user_id AND balance_cents - held_cents >= @amount;

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

-- name: CaptureFundsAndBook :one
-- Settles a hold and writes its fee row in one statement, so the account's
-- row lock is held for one round trip less.
WITH acct AS (
    UPDATE accounts
    SET balance_cents = balance_cents - @amount::bigint, held_cents = held_cents - @amount::bigint, updated_at = now()
    WHERE user_id = @user_id::uuid
    RETURNING balance_cents
)
INSERT INTO transactions (id, user_id, kind, amount_cents, balance_after_cents, description, reference_type, reference_id, source_key)
SELECT @id::uuid, @user_id::uuid, 'fee', @fee_cents::bigint, acct.balance_cents, @description::text, @reference_type::text, @reference_id::text, @source_key::text
FROM acct
RETURNING *;
