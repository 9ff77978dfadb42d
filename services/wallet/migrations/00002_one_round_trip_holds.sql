-- +goose Up

-- reserve_hold is a reservation in one statement (one round trip, run in
-- its own implicit transaction): the hold is inserted, then the account's
-- held amount raised only when the available balance covers it. The
-- account's row lock is taken last and released by the commit that ends
-- the same statement, so a hot account is locked for the time of one
-- UPDATE and a commit, never across a client round trip.
--
-- Outcomes: the new hold; the existing hold when the key was used before
-- (the caller compares user and amount); SQLSTATE 23503 when the user has
-- no account; SQLSTATE MF001 when the available balance is too low (the
-- hold insert is rolled back with the statement).
-- +goose StatementBegin
CREATE FUNCTION reserve_hold(
    p_id uuid, p_key text, p_user_id uuid, p_amount_cents bigint, p_expires_at timestamptz,
    p_description text, p_reference_type text, p_reference_id text
) RETURNS SETOF holds
LANGUAGE plpgsql AS $$
DECLARE
    h holds;
BEGIN
    INSERT INTO holds (id, key, user_id, amount_cents, status, expires_at, description, reference_type, reference_id)
    VALUES (p_id, p_key, p_user_id, p_amount_cents, 'held', p_expires_at, p_description, p_reference_type, p_reference_id)
    ON CONFLICT (key) DO NOTHING
    RETURNING * INTO h;
    IF NOT FOUND THEN
        -- A new statement snapshot: sees the hold whose commit the insert waited for.
        RETURN QUERY SELECT * FROM holds WHERE key = p_key;
        RETURN;
    END IF;
    UPDATE accounts
    SET held_cents = held_cents + p_amount_cents, updated_at = now()
    WHERE user_id = p_user_id AND balance_cents - held_cents >= p_amount_cents;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'insufficient funds' USING ERRCODE = 'MF001';
    END IF;
    RETURN NEXT h;
END;
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION reserve_hold(uuid, text, uuid, bigint, timestamptz, text, text, text);
