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
-- One round trip; see reserve_hold in the migrations.
SELECT * FROM reserve_hold(@id::uuid, @key::text, @user_id::uuid, @amount_cents::bigint, @expires_at::timestamptz,
    @description::text, @reference_type::text, @reference_id::text);

-- name: CaptureHold :one
-- Captures an open hold in one statement: the hold turns captured, the
-- account's balance and held amount drop by the fee, and the fee's ledger
-- row is written with the balance after it. No row when the hold is not
-- open (already captured or released, or unknown): the caller looks it up.
WITH h AS (
    UPDATE holds SET status = 'captured', updated_at = now()
    WHERE key = @key AND status = 'held'
    RETURNING *
), acct AS (
    UPDATE accounts a
    SET balance_cents = a.balance_cents - h.amount_cents, held_cents = a.held_cents - h.amount_cents, updated_at = now()
    FROM h
    WHERE a.user_id = h.user_id
    RETURNING a.balance_cents
), fee AS (
    INSERT INTO transactions (id, user_id, kind, amount_cents, balance_after_cents, description, reference_type, reference_id, source_key)
    SELECT @fee_id::uuid, h.user_id, 'fee', -h.amount_cents, acct.balance_cents,
        CASE WHEN h.description = '' THEN @default_description::text ELSE h.description END,
        h.reference_type, h.reference_id, 'fee:' || h.id::text
    FROM h, acct
    RETURNING *
)
SELECT h.id AS hold_id, h.key AS hold_key, h.expires_at AS hold_expires_at, h.description AS hold_description, h.created_at AS hold_created_at,
    fee.id, fee.user_id, fee.kind, fee.amount_cents, fee.balance_after_cents, fee.description,
    fee.reference_type, fee.reference_id, fee.source_key, fee.created_at
FROM h, fee;

-- name: ReleaseHold :one
-- Releases an open hold in one statement; no row when it is not open.
WITH h AS (
    UPDATE holds SET status = 'released', updated_at = now()
    WHERE key = @key AND status = 'held'
    RETURNING *
), acct AS (
    UPDATE accounts a
    SET held_cents = a.held_cents - h.amount_cents, updated_at = now()
    FROM h
    WHERE a.user_id = h.user_id
    RETURNING a.user_id
)
SELECT h.* FROM h, acct;
