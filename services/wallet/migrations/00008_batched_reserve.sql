-- +goose Up

-- reserve_holds decides a batch of reservations in one statement, so one
-- commit and one round trip serve many runs (issue 22, ADR 0017). It is
-- reserve_hold's rule applied to each hold in the order given (the order
-- the wallet's callers arrived in) against the running balance and key
-- month spend, with reserve_hold's outcomes per hold:
--
--   ok                    the new hold, or the existing one when its key was
--                         used before (the caller compares user and amount)
--   insufficient_funds    the available balance does not cover it, or the
--                         user has no account (MF001 and 23503 there)
--   spend_limit_exceeded  it would take its API key's month over the limit
--                         passed with it (MF002 there); checked first, as
--                         reserve_hold does
--
-- p_api_key_ids holds the nil uuid for a hold without an API key (its
-- p_spend_months entry is then ignored), p_limits -1 for no limit.
--
-- One row per hold, in the input's order (ord, from 1). A refused hold
-- writes nothing (its row is inserted, then deleted in the same
-- transaction). The keys must be distinct: the wallet puts a repeated key
-- into the next batch, so it is answered as a retry would be.
--
-- Row locks are taken in the order every other reserve, release and sweep
-- takes them, so a batch and a single statement never wait on each other
-- in opposite orders: the holds' keys (inserted in key order), the API key
-- months in (key, month) order (created empty first when missing, so that
-- no insert is left for after the accounts are locked), the accounts in
-- user id order, last. FOR NO KEY UPDATE is the lock an UPDATE of these
-- rows takes: it does not wait for the key share locks of other
-- transactions' foreign key checks. Each account and key month is then
-- written once, however many of the batch's holds it served.
--
-- Any error (a constraint, a deadlock) rolls the whole batch back; the
-- wallet then reserves its holds one by one with reserve_hold.
-- +goose StatementBegin
CREATE FUNCTION reserve_holds(
    p_ids uuid[], p_keys text[], p_user_ids uuid[], p_amounts bigint[], p_expires_at timestamptz[],
    p_descriptions text[], p_reference_types text[], p_reference_ids text[],
    p_api_key_ids uuid[], p_spend_months date[], p_limits bigint[]
) RETURNS TABLE (
    ord int, outcome text,
    id uuid, key text, user_id uuid, amount_cents bigint, status text, expires_at timestamptz,
    description text, reference_type text, reference_id text, created_at timestamptz, updated_at timestamptz,
    api_key_id uuid, spend_month date
)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    n int := cardinality(p_ids);
    outcomes text[] := array_fill(NULL::text, ARRAY[n]);
    new_ids uuid[];
    refused uuid[] := '{}';
    users uuid[];
    avail bigint[];
    added bigint[];
    km_keys uuid[];
    km_months date[];
    km_spent bigint[];
    km_added bigint[];
    km_limits bigint[];
    i int;
    j int;
    k int;
    u int;
BEGIN
    IF cardinality(p_keys) <> n OR cardinality(p_user_ids) <> n OR cardinality(p_amounts) <> n
       OR cardinality(p_expires_at) <> n OR cardinality(p_descriptions) <> n OR cardinality(p_reference_types) <> n
       OR cardinality(p_reference_ids) <> n OR cardinality(p_api_key_ids) <> n OR cardinality(p_spend_months) <> n
       OR cardinality(p_limits) <> n THEN
        RAISE EXCEPTION 'reserve_holds: arrays of different lengths';
    END IF;
    -- The arrays cannot carry NULLs from the client: the nil uuid is no API
    -- key, a negative limit no limit.
    p_api_key_ids := ARRAY(SELECT nullif(x.v, '00000000-0000-0000-0000-000000000000'::uuid)
                           FROM unnest(p_api_key_ids) WITH ORDINALITY AS x(v, o) ORDER BY x.o);
    p_limits := ARRAY(SELECT CASE WHEN x.v >= 0 THEN x.v END
                      FROM unnest(p_limits) WITH ORDINALITY AS x(v, o) ORDER BY x.o);

    -- The holds, in key order. A key used before is not inserted (a key
    -- being inserted by a transaction in flight waits for its end, as in
    -- reserve_hold); nor is a hold of a user without an account.
    WITH ins AS (
        INSERT INTO holds AS h (id, key, user_id, amount_cents, status, expires_at, description, reference_type,
                                reference_id, api_key_id, spend_month)
        SELECT t.id, t.key, t.user_id, t.amount, 'held', t.expires_at, t.description, t.reference_type,
               t.reference_id, t.api_key_id, CASE WHEN t.api_key_id IS NOT NULL THEN t.spend_month END
        FROM unnest(p_ids, p_keys, p_user_ids, p_amounts, p_expires_at, p_descriptions, p_reference_types,
                    p_reference_ids, p_api_key_ids, p_spend_months)
             AS t(id, key, user_id, amount, expires_at, description, reference_type, reference_id, api_key_id, spend_month)
        WHERE EXISTS (SELECT 1 FROM accounts a WHERE a.user_id = t.user_id)
        ORDER BY t.key
        ON CONFLICT (key) DO NOTHING
        RETURNING h.id
    )
    SELECT coalesce(array_agg(ins.id), '{}') INTO new_ids FROM ins;

    -- The new holds' key months: the missing ones created empty, then all
    -- locked, in (key, month) order.
    INSERT INTO api_key_month_spend AS s (api_key_id, month, user_id, spent_cents, limit_cents)
    SELECT DISTINCT ON (t.api_key_id, t.spend_month) t.api_key_id, t.spend_month, t.user_id, 0, t.lim
    FROM unnest(p_ids, p_user_ids, p_api_key_ids, p_spend_months, p_limits) AS t(id, user_id, api_key_id, spend_month, lim)
    WHERE t.api_key_id IS NOT NULL AND t.id = ANY (new_ids)
    ORDER BY t.api_key_id, t.spend_month
    ON CONFLICT (api_key_id, month) DO NOTHING;

    SELECT coalesce(array_agg(l.api_key_id ORDER BY l.api_key_id, l.month), '{}'),
           coalesce(array_agg(l.month ORDER BY l.api_key_id, l.month), '{}'),
           coalesce(array_agg(l.spent_cents ORDER BY l.api_key_id, l.month), '{}')
    INTO km_keys, km_months, km_spent
    FROM (
        SELECT s.api_key_id, s.month, s.spent_cents
        FROM api_key_month_spend s
        WHERE (s.api_key_id, s.month) IN (
            SELECT t.api_key_id, t.spend_month
            FROM unnest(p_ids, p_api_key_ids, p_spend_months) AS t(id, api_key_id, spend_month)
            WHERE t.api_key_id IS NOT NULL AND t.id = ANY (new_ids))
        ORDER BY s.api_key_id, s.month
        FOR NO KEY UPDATE
    ) l;
    km_added := array_fill(0::bigint, ARRAY[cardinality(km_keys)]);
    km_limits := array_fill(NULL::bigint, ARRAY[cardinality(km_keys)]);

    -- The new holds' accounts, last, in user id order.
    SELECT coalesce(array_agg(l.user_id ORDER BY l.user_id), '{}'),
           coalesce(array_agg(l.balance_cents - l.held_cents ORDER BY l.user_id), '{}')
    INTO users, avail
    FROM (
        SELECT a.user_id, a.balance_cents, a.held_cents
        FROM accounts a
        WHERE a.user_id IN (
            SELECT t.user_id FROM unnest(p_ids, p_user_ids) AS t(id, user_id) WHERE t.id = ANY (new_ids))
        ORDER BY a.user_id
        FOR NO KEY UPDATE
    ) l;
    added := array_fill(0::bigint, ARRAY[cardinality(users)]);

    -- Each new hold in the given order, against the running amounts.
    FOR i IN 1..n LOOP
        CONTINUE WHEN NOT (p_ids[i] = ANY (new_ids));
        k := NULL;
        IF p_api_key_ids[i] IS NOT NULL THEN
            FOR j IN 1..cardinality(km_keys) LOOP
                IF km_keys[j] = p_api_key_ids[i] AND km_months[j] = p_spend_months[i] THEN
                    k := j;
                    EXIT;
                END IF;
            END LOOP;
            IF k IS NULL OR NOT (p_limits[i] IS NULL OR km_spent[k] + p_amounts[i] <= p_limits[i]) THEN
                outcomes[i] := 'spend_limit_exceeded';
                refused := refused || p_ids[i];
                CONTINUE;
            END IF;
        END IF;
        u := array_position(users, p_user_ids[i]);
        IF u IS NULL OR avail[u] < p_amounts[i] THEN
            outcomes[i] := 'insufficient_funds';
            refused := refused || p_ids[i];
            CONTINUE;
        END IF;
        avail[u] := avail[u] - p_amounts[i];
        added[u] := added[u] + p_amounts[i];
        IF k IS NOT NULL THEN
            km_spent[k] := km_spent[k] + p_amounts[i];
            km_added[k] := km_added[k] + p_amounts[i];
            km_limits[k] := p_limits[i];
        END IF;
        outcomes[i] := 'ok';
    END LOOP;

    IF cardinality(refused) > 0 THEN
        DELETE FROM holds h WHERE h.id = ANY (refused);
    END IF;
    -- Each key month and account once, by what the batch added to it.
    UPDATE api_key_month_spend s
    SET spent_cents = s.spent_cents + x.added, limit_cents = x.lim, updated_at = now()
    FROM unnest(km_keys, km_months, km_added, km_limits) AS x(api_key_id, month, added, lim)
    WHERE s.api_key_id = x.api_key_id AND s.month = x.month AND x.added > 0;
    UPDATE accounts a
    SET held_cents = a.held_cents + x.added, updated_at = now()
    FROM unnest(users, added) AS x(user_id, added)
    WHERE a.user_id = x.user_id AND x.added > 0;

    -- The answers: a hold whose key was used before is read here, in a
    -- snapshot that sees the commit its insert waited for.
    RETURN QUERY
    SELECT t.ord::int,
           coalesce(t.outcome, CASE WHEN h.id IS NULL THEN 'insufficient_funds' ELSE 'ok' END),
           h.id, h.key, h.user_id, h.amount_cents, h.status, h.expires_at, h.description, h.reference_type,
           h.reference_id, h.created_at, h.updated_at, h.api_key_id, h.spend_month
    FROM unnest(p_keys, outcomes) WITH ORDINALITY AS t(key, outcome, ord)
    LEFT JOIN holds h ON h.key = t.key AND (t.outcome IS NULL OR t.outcome = 'ok')
    ORDER BY t.ord;
END;
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION reserve_holds(uuid[], text[], uuid[], bigint[], timestamptz[], text[], text[], text[], uuid[], date[], bigint[]);
