-- +goose Up

-- settle_holds captures and releases a batch of holds in one statement, so
-- one commit and one round trip serve many runs' settlements (issue 22,
-- ADR 0018). Each item is the hold p_hold_ids[i] and its operation
-- p_ops[i], 'capture' or 'release', applied in the order given with the
-- one-by-one statements' effects:
--
--   capture  the CaptureHold query (holds.sql): the hold turns captured,
--            the account's held amount drops by the hold's amount and its
--            balance by the fee p_fee_amounts[i] (negative), and the fee's
--            ledger row (p_fee_*[i], source key fee:<hold id>) is written
--            with the running balance after it. The API key month keeps
--            the hold's amount: it was spent when reserved.
--   release  release_hold (migration 00005): the hold turns released, and
--            its amount goes back to the account's held amount and to its
--            API key's month.
--
-- Outcomes, one row per item in the input's order (ord, from 1):
--
--   captured, released  applied; the row carries the hold after it, and
--                       the account's balance and held amount right after
--                       this item (for the crossing, ADR 0018)
--   settled             the hold was not open (a concurrent call settled
--                       it after the wallet loaded it) or does not exist:
--                       nothing written; the wallet loads and decides it
--                       again, as after the one-by-one statement's no row
--
-- The hold ids must be distinct (the wallet puts a repeated key into the
-- next batch). The fee arrays are ignored for releases.
--
-- Row locks are taken in the order of every reserve, release and sweep:
-- the holds (in id order), the released holds' API key months (in (key,
-- month) order), the accounts (in user id order), last, FOR NO KEY UPDATE
-- as an UPDATE takes them. Each key month and each account is then written
-- once, by what the batch did to it; the ledger gets one row per capture.
--
-- Any error (a constraint, a deadlock) rolls the whole batch back; the
-- wallet then settles its holds one by one.
-- +goose StatementBegin
CREATE FUNCTION settle_holds(
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
DECLARE
    n int := cardinality(p_hold_ids);
    outcomes text[] := array_fill(NULL::text, ARRAY[n]);
    bal_after bigint[] := array_fill(NULL::bigint, ARRAY[n]);
    held_after bigint[] := array_fill(NULL::bigint, ARRAY[n]);
    users uuid[];
    bal bigint[];
    held bigint[];
    bal0 bigint[];
    held0 bigint[];
    km_keys uuid[];
    km_months date[];
    km_freed bigint[];
    hr holds;
    i int;
    j int;
    u int;
BEGIN
    IF cardinality(p_ops) <> n OR cardinality(p_fee_ids) <> n OR cardinality(p_fee_kinds) <> n
       OR cardinality(p_fee_amounts) <> n OR cardinality(p_fee_descriptions) <> n
       OR cardinality(p_fee_reference_types) <> n OR cardinality(p_fee_reference_ids) <> n
       OR cardinality(p_fee_source_keys) <> n THEN
        RAISE EXCEPTION 'settle_holds: arrays of different lengths';
    END IF;
    IF EXISTS (SELECT 1 FROM unnest(p_ops) AS o(op) WHERE o.op IS DISTINCT FROM 'capture' AND o.op IS DISTINCT FROM 'release') THEN
        RAISE EXCEPTION 'settle_holds: an operation is neither capture nor release';
    END IF;

    -- The holds, in id order. A hold settled by a transaction in flight is
    -- waited for, and read below as that transaction left it.
    PERFORM 1 FROM holds h WHERE h.id = ANY (p_hold_ids) ORDER BY h.id FOR NO KEY UPDATE;

    -- The API key months of the open holds to release, in (key, month)
    -- order.
    SELECT coalesce(array_agg(l.api_key_id ORDER BY l.api_key_id, l.month), '{}'),
           coalesce(array_agg(l.month ORDER BY l.api_key_id, l.month), '{}')
    INTO km_keys, km_months
    FROM (
        SELECT s.api_key_id, s.month
        FROM api_key_month_spend s
        WHERE (s.api_key_id, s.month) IN (
            SELECT h.api_key_id, h.spend_month
            FROM holds h JOIN unnest(p_hold_ids, p_ops) AS t(id, op) ON t.id = h.id
            WHERE h.status = 'held' AND t.op = 'release' AND h.api_key_id IS NOT NULL)
        ORDER BY s.api_key_id, s.month
        FOR NO KEY UPDATE
    ) l;
    km_freed := array_fill(0::bigint, ARRAY[cardinality(km_keys)]);

    -- The open holds' accounts, last, in user id order.
    SELECT coalesce(array_agg(l.user_id ORDER BY l.user_id), '{}'),
           coalesce(array_agg(l.balance_cents ORDER BY l.user_id), '{}'),
           coalesce(array_agg(l.held_cents ORDER BY l.user_id), '{}')
    INTO users, bal, held
    FROM (
        SELECT a.user_id, a.balance_cents, a.held_cents
        FROM accounts a
        WHERE a.user_id IN (SELECT h.user_id FROM holds h WHERE h.id = ANY (p_hold_ids) AND h.status = 'held')
        ORDER BY a.user_id
        FOR NO KEY UPDATE
    ) l;
    bal0 := bal;
    held0 := held;

    -- Each item in the given order, against the running amounts.
    FOR i IN 1..n LOOP
        UPDATE holds h
        SET status = CASE p_ops[i] WHEN 'capture' THEN 'captured' ELSE 'released' END, updated_at = now()
        WHERE h.id = p_hold_ids[i] AND h.status = 'held'
        RETURNING * INTO hr;
        IF NOT FOUND THEN
            outcomes[i] := 'settled';
            CONTINUE;
        END IF;
        u := array_position(users, hr.user_id);
        IF u IS NULL THEN
            RAISE EXCEPTION 'settle_holds: the account of hold % was not locked', hr.id;
        END IF;
        held[u] := held[u] - hr.amount_cents;
        IF p_ops[i] = 'capture' THEN
            bal[u] := bal[u] + p_fee_amounts[i];
            INSERT INTO transactions (id, user_id, kind, amount_cents, balance_after_cents, description, reference_type,
                                      reference_id, source_key)
            VALUES (p_fee_ids[i], hr.user_id, p_fee_kinds[i], p_fee_amounts[i], bal[u], p_fee_descriptions[i],
                    p_fee_reference_types[i], p_fee_reference_ids[i], p_fee_source_keys[i]);
            outcomes[i] := 'captured';
        ELSE
            IF hr.api_key_id IS NOT NULL THEN
                FOR j IN 1..cardinality(km_keys) LOOP
                    IF km_keys[j] = hr.api_key_id AND km_months[j] = hr.spend_month THEN
                        km_freed[j] := km_freed[j] + hr.amount_cents;
                        EXIT;
                    END IF;
                END LOOP;
            END IF;
            outcomes[i] := 'released';
        END IF;
        bal_after[i] := bal[u];
        held_after[i] := held[u];
    END LOOP;

    -- Each key month and account once, by what the batch did to it.
    UPDATE api_key_month_spend s
    SET spent_cents = s.spent_cents - x.freed, updated_at = now()
    FROM unnest(km_keys, km_months, km_freed) AS x(api_key_id, month, freed)
    WHERE s.api_key_id = x.api_key_id AND s.month = x.month AND x.freed > 0;
    UPDATE accounts a
    SET balance_cents = a.balance_cents + (x.bal - x.bal0), held_cents = a.held_cents + (x.held - x.held0), updated_at = now()
    FROM unnest(users, bal, bal0, held, held0) AS x(user_id, bal, bal0, held, held0)
    WHERE a.user_id = x.user_id AND (x.bal <> x.bal0 OR x.held <> x.held0);

    RETURN QUERY
    SELECT t.ord::int, t.outcome,
           h.id, h.key, h.user_id, h.amount_cents, h.status, h.expires_at, h.description, h.reference_type,
           h.reference_id, h.created_at, h.updated_at, h.api_key_id, h.spend_month,
           f.created_at, t.bal_after, t.held_after
    FROM unnest(p_hold_ids, outcomes, p_fee_ids, bal_after, held_after) WITH ORDINALITY AS t(hold_id, outcome, fee_id, bal_after, held_after, ord)
    LEFT JOIN holds h ON h.id = t.hold_id AND t.outcome <> 'settled'
    LEFT JOIN transactions f ON f.id = t.fee_id AND t.outcome = 'captured'
    ORDER BY t.ord;
END;
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION settle_holds(uuid[], text[], uuid[], text[], bigint[], text[], text[], text[], text[]);
