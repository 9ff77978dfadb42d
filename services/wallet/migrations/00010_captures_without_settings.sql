-- +goose Up

-- capture_hold_alone and settle_holds_alone settle holds of users without
-- wallet settings in one statement that is its own transaction: one round
-- trip, and the account's row is locked for one UPDATE and the commit,
-- never across a client round trip (issue 22, ADR 0022). A user with
-- settings may cross a threshold, which the wallet package decides in Go
-- (ADR 0008): for them both functions write nothing and answer so, and
-- the wallet settles in a transaction as before (the capture, then the
-- settings locked, the crossings written, the commit).
--
-- Whether the user has settings is read twice, in new snapshots (READ
-- COMMITTED, each statement of the function sees what committed before
-- it): before anything is locked (the common answer for a user with
-- settings, nothing written), and again after the holds and the account
-- are locked and written, where the transaction path locks the settings.
-- Settings that committed in between make the statement fail with
-- SQLSTATE MF003, which rolls all of it back; the wallet then takes the
-- transaction path. So a capture commits here only when the transaction
-- path, at the same point, would have found no settings and decided no
-- crossing.

-- capture_hold_alone is the CaptureHold query (holds.sql) for a user
-- without settings. Outcomes, one row:
--
--   captured  the hold turned captured, the account's held amount dropped
--             by its amount and its balance by the fee p_fee_amount
--             (negative), the fee's ledger row was written with the
--             balance after it (returned with the row's created_at)
--   settled   the hold was not open (a concurrent call settled it) or
--             does not exist: nothing written, as the query's "no row"
--   settings  the hold's user has settings: nothing written
-- +goose StatementBegin
CREATE FUNCTION capture_hold_alone(
    p_hold_id uuid, p_fee_id uuid, p_fee_kind text, p_fee_amount bigint, p_fee_description text,
    p_fee_reference_type text, p_fee_reference_id text, p_fee_source_key text
) RETURNS TABLE (outcome text, fee_balance_after_cents bigint, fee_created_at timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
    hr holds;
    bal bigint;
    at timestamptz;
BEGIN
    IF EXISTS (SELECT 1 FROM holds h JOIN wallet_settings s ON s.user_id = h.user_id WHERE h.id = p_hold_id) THEN
        RETURN QUERY SELECT 'settings'::text, NULL::bigint, NULL::timestamptz;
        RETURN;
    END IF;
    UPDATE holds h SET status = 'captured', updated_at = now()
    WHERE h.id = p_hold_id AND h.status = 'held'
    RETURNING * INTO hr;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'settled'::text, NULL::bigint, NULL::timestamptz;
        RETURN;
    END IF;
    UPDATE accounts a
    SET balance_cents = a.balance_cents + p_fee_amount, held_cents = a.held_cents - hr.amount_cents, updated_at = now()
    WHERE a.user_id = hr.user_id
    RETURNING a.balance_cents INTO bal;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'capture_hold_alone: hold % has no account', hr.id;
    END IF;
    INSERT INTO transactions AS t (id, user_id, kind, amount_cents, balance_after_cents, description, reference_type,
                                   reference_id, source_key)
    VALUES (p_fee_id, hr.user_id, p_fee_kind, p_fee_amount, bal, p_fee_description, p_fee_reference_type,
            p_fee_reference_id, p_fee_source_key)
    RETURNING t.created_at INTO at;
    IF EXISTS (SELECT 1 FROM wallet_settings s WHERE s.user_id = hr.user_id) THEN
        RAISE EXCEPTION 'capture_hold_alone: the user of hold % has settings', hr.id USING ERRCODE = 'MF003';
    END IF;
    RETURN QUERY SELECT 'captured'::text, bal, at;
END;
$$;
-- +goose StatementEnd

-- settle_holds_alone is settle_holds (migration 00009) for a batch whose
-- captures are all of users without settings: its rows, or none at all
-- (nothing written) when a capture's user has settings.
-- +goose StatementBegin
CREATE FUNCTION settle_holds_alone(
    p_hold_ids uuid[], p_ops text[],
    p_fee_ids uuid[], p_fee_kinds text[], p_fee_amounts bigint[], p_fee_descriptions text[],
    p_fee_reference_types text[], p_fee_reference_ids text[], p_fee_source_keys text[]
) RETURNS TABLE (
    ord int, outcome text,
    id uuid, key text, user_id uuid, amount_cents bigint, status text, expires_at timestamptz,
    description text, reference_type text, reference_id text, created_at timestamptz, updated_at timestamptz,
    api_key_id uuid, spend_month date,
    fee_created_at timestamptz, balance_after_cents bigint, held_after_cents bigint
)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    IF EXISTS (
        SELECT 1
        FROM holds h JOIN unnest(p_hold_ids, p_ops) AS t(id, op) ON t.id = h.id
        JOIN wallet_settings s ON s.user_id = h.user_id
        WHERE t.op = 'capture') THEN
        RETURN;
    END IF;
    RETURN QUERY
    SELECT * FROM settle_holds(p_hold_ids, p_ops, p_fee_ids, p_fee_kinds, p_fee_amounts, p_fee_descriptions,
                               p_fee_reference_types, p_fee_reference_ids, p_fee_source_keys);
    IF EXISTS (
        SELECT 1
        FROM holds h JOIN unnest(p_hold_ids, p_ops) AS t(id, op) ON t.id = h.id
        JOIN wallet_settings s ON s.user_id = h.user_id
        WHERE t.op = 'capture') THEN
        RAISE EXCEPTION 'settle_holds_alone: the user of a capture has settings' USING ERRCODE = 'MF003';
    END IF;
END;
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION settle_holds_alone(uuid[], text[], uuid[], text[], bigint[], text[], text[], text[], text[]);
DROP FUNCTION capture_hold_alone(uuid, uuid, text, bigint, text, text, text, text);
