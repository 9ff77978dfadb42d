-- name: GetHoldByKey :one
SELECT * FROM holds WHERE key = $1;

-- name: LockExpiredHolds :many
-- SKIP LOCKED lets several replicas sweep side by side without waiting.
SELECT * FROM holds
WHERE status = 'held' AND expires_at < @now
ORDER BY expires_at
LIMIT @row_limit
FOR UPDATE SKIP LOCKED;

-- name: ReleaseHoldByID :exec
UPDATE holds SET status = 'released', updated_at = now() WHERE id = $1 AND status = 'held';

-- name: ReserveHold :one
-- One statement on the account's locked row: the reserve rule lives in
-- reserve_hold (migrations 00002 and 00005, with an API key's monthly
-- limit), see docs/adr/0010-reserve-rule-in-sql.md.
SELECT * FROM reserve_hold(@id::uuid, @key::text, @user_id::uuid, @amount_cents::bigint, @expires_at::timestamptz,
    @description::text, @reference_type::text, @reference_id::text,
    sqlc.narg(api_key_id)::uuid, sqlc.narg(spend_month)::date, sqlc.narg(limit_cents)::bigint);

-- name: CaptureHold :one
-- Captures the open hold @hold_id in one statement, booking the fee the
-- wallet package decided (wallet.feeFor): the hold turns captured, the
-- account's held amount drops by the hold's amount and its balance by the
-- fee, and the fee's ledger row is written with the balance after it. No
-- row when the hold is no longer open (a concurrent call settled it): the
-- caller loads it again.
WITH h AS (
    UPDATE holds SET status = 'captured', updated_at = now()
    WHERE holds.id = @hold_id AND holds.status = 'held'
    RETURNING *
), acct AS (
    UPDATE accounts a
    SET balance_cents = a.balance_cents + @amount_cents::bigint, held_cents = a.held_cents - h.amount_cents, updated_at = now()
    FROM h
    WHERE a.user_id = h.user_id
    RETURNING a.balance_cents
)
INSERT INTO transactions (id, user_id, kind, amount_cents, balance_after_cents, description, reference_type, reference_id, source_key)
SELECT @id::uuid, h.user_id, @kind::text, @amount_cents::bigint, acct.balance_cents,
    @description::text, @reference_type::text, @reference_id::text, @source_key::text
FROM h, acct
RETURNING *;

-- name: ReleaseHold :one
-- Releases the open hold @hold_id in one statement (release_hold, migration
-- 00005: the hold, its API key's month, the account, in that order); no row
-- when it is no longer open (a concurrent call settled it).
SELECT * FROM release_hold(@hold_id::uuid);

-- name: UnholdKeySpend :exec
-- Gives released holds' amount back to their API key's month (the sweeper).
UPDATE api_key_month_spend SET spent_cents = spent_cents - @amount::bigint, updated_at = now()
WHERE api_key_id = @api_key_id AND month = @month;
