-- +goose Up

-- The monthly spend limits of API keys (issue 15): the fees held or
-- captured for a key's runs in a UTC calendar month never exceed the key's
-- limit, however many runs and workflow replicas reserve at once.
--
-- A hold made for a run started with a key names the key and the UTC month
-- of its reservation. api_key_month_spend keeps, per key and month, the sum
-- of those holds still held or captured (spent_cents) and the key's limit
-- as the last reserve saw it (limit_cents; NULL: no limit): reserve_hold
-- raises spent_cents in the same statement as it inserts the hold, and only
-- while it stays within the limit; a release gives the amount back to the
-- hold's month. `wallet verify` recomputes every row from the holds and
-- checks it against its limit.
--
-- Adding nullable columns without a default changes only the catalog; the
-- CHECK is NOT VALID (no scan under the lock): the existing rows have NULL
-- in both columns, which it allows.
ALTER TABLE holds ADD COLUMN api_key_id uuid, ADD COLUMN spend_month date;
ALTER TABLE holds ADD CONSTRAINT holds_api_key_month CHECK ((api_key_id IS NULL) = (spend_month IS NULL)) NOT VALID;

CREATE TABLE api_key_month_spend (
    api_key_id  uuid NOT NULL,
    -- The first day of the UTC month.
    month       date NOT NULL CHECK (extract(day FROM month) = 1),
    user_id     uuid NOT NULL,
    spent_cents bigint NOT NULL CHECK (spent_cents >= 0),
    limit_cents bigint CHECK (limit_cents >= 0),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (api_key_id, month)
);
CREATE INDEX api_key_month_spend_user ON api_key_month_spend (user_id, month);

-- reserve_hold gains the key's part. The order of row locks is the same in
-- every statement that takes both (reserve, release, the expiry sweep):
-- the key's month before the account, so two of them never wait on each
-- other in opposite orders; the account's row is still locked last.
--
-- Outcomes as before, and SQLSTATE MF002 when the hold would take the key's
-- month over p_limit_cents (the hold insert is rolled back with the
-- statement). The rule in Go is wallet.KeyMonth.Allows; the store's tests
-- hold this function against it.
DROP FUNCTION reserve_hold(uuid, text, uuid, bigint, timestamptz, text, text, text);
-- +goose StatementBegin
CREATE FUNCTION reserve_hold(
    p_id uuid, p_key text, p_user_id uuid, p_amount_cents bigint, p_expires_at timestamptz,
    p_description text, p_reference_type text, p_reference_id text,
    p_api_key_id uuid, p_spend_month date, p_limit_cents bigint
) RETURNS SETOF holds
LANGUAGE plpgsql AS $$
DECLARE
    h holds;
BEGIN
    INSERT INTO holds (id, key, user_id, amount_cents, status, expires_at, description, reference_type, reference_id,
                       api_key_id, spend_month)
    VALUES (p_id, p_key, p_user_id, p_amount_cents, 'held', p_expires_at, p_description, p_reference_type, p_reference_id,
            p_api_key_id, CASE WHEN p_api_key_id IS NOT NULL THEN p_spend_month END)
    ON CONFLICT (key) DO NOTHING
    RETURNING * INTO h;
    IF NOT FOUND THEN
        -- A new statement snapshot: sees the hold whose commit the insert waited for.
        RETURN QUERY SELECT * FROM holds WHERE key = p_key;
        RETURN;
    END IF;
    IF p_api_key_id IS NOT NULL THEN
        -- A conditional upsert: the row's lock serializes the reserves of one
        -- key, and each adds its amount only while the sum stays within the
        -- limit (re-checked on the latest committed row).
        INSERT INTO api_key_month_spend AS s (api_key_id, month, user_id, spent_cents, limit_cents)
        SELECT p_api_key_id, p_spend_month, p_user_id, p_amount_cents, p_limit_cents
        WHERE p_limit_cents IS NULL OR p_amount_cents <= p_limit_cents
        ON CONFLICT (api_key_id, month) DO UPDATE
        SET spent_cents = s.spent_cents + EXCLUDED.spent_cents, limit_cents = EXCLUDED.limit_cents, updated_at = now()
        WHERE EXCLUDED.limit_cents IS NULL OR s.spent_cents + EXCLUDED.spent_cents <= EXCLUDED.limit_cents;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'api key spend limit exceeded' USING ERRCODE = 'MF002';
        END IF;
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

-- release_hold releases the open hold p_hold_id: the hold, then its key's
-- month (the amount goes back to the month of the hold), then the account,
-- in that order (see above). No row when the hold is no longer open.
-- +goose StatementBegin
CREATE FUNCTION release_hold(p_hold_id uuid) RETURNS SETOF holds
LANGUAGE plpgsql AS $$
DECLARE
    h holds;
BEGIN
    UPDATE holds SET status = 'released', updated_at = now()
    WHERE id = p_hold_id AND status = 'held'
    RETURNING * INTO h;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    IF h.api_key_id IS NOT NULL THEN
        UPDATE api_key_month_spend
        SET spent_cents = spent_cents - h.amount_cents, updated_at = now()
        WHERE api_key_id = h.api_key_id AND month = h.spend_month;
    END IF;
    UPDATE accounts SET held_cents = held_cents - h.amount_cents, updated_at = now()
    WHERE user_id = h.user_id;
    RETURN NEXT h;
END;
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION release_hold(uuid);
DROP FUNCTION reserve_hold(uuid, text, uuid, bigint, timestamptz, text, text, text, uuid, date, bigint);
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
DROP TABLE api_key_month_spend;
ALTER TABLE holds DROP CONSTRAINT holds_api_key_month;
ALTER TABLE holds DROP COLUMN spend_month, DROP COLUMN api_key_id;
