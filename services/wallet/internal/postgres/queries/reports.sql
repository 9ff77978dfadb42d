-- name: VerifyAccounts :many
-- Every account whose ledger, holds or sign disagree with its balance.
WITH ledger AS (
    SELECT user_id, sum(amount_cents)::bigint AS total,
           bool_or(kind IN ('withdrawal', 'chargeback')) AS may_be_negative
    FROM transactions GROUP BY user_id
), open_holds AS (
    SELECT user_id, sum(amount_cents)::bigint AS total FROM holds WHERE status = 'held' GROUP BY user_id
), dispute_holds AS (
    SELECT user_id, sum(held_cents)::bigint AS total FROM disputes WHERE status = 'open' GROUP BY user_id
)
SELECT a.user_id, a.balance_cents, a.held_cents,
       COALESCE(l.total, 0)::bigint AS ledger_cents,
       COALESCE(h.total, 0)::bigint AS open_holds_cents,
       COALESCE(d.total, 0)::bigint AS dispute_holds_cents,
       COALESCE(l.may_be_negative, false)::boolean AS may_be_negative
FROM accounts a
LEFT JOIN ledger l ON l.user_id = a.user_id
LEFT JOIN open_holds h ON h.user_id = a.user_id
LEFT JOIN dispute_holds d ON d.user_id = a.user_id
WHERE a.balance_cents <> COALESCE(l.total, 0)
   OR a.held_cents <> COALESCE(h.total, 0) + COALESCE(d.total, 0)
   OR (a.balance_cents < 0 AND NOT COALESCE(l.may_be_negative, false));

-- name: VerifyAutomation :many
-- Dispute holds and automatic top-ups that break their invariants, one
-- row each with what is wrong:
--   - an open dispute holds exactly its amount, a closed one nothing;
--   - a lost dispute has exactly one chargeback of its amount, any other none;
--   - a top-up's deposit rows add up to what it says it credited (once);
--   - an automatic top-up was queued by exactly one charging crossing;
--   - an account flagged in debt has a negative balance.
SELECT d.user_id, ('dispute ' || d.dispute_id || ' (' || d.status || ') holds ' || d.held_cents || ' of ' || d.amount_cents || ' cents')::text AS problem
FROM disputes d
WHERE (d.status = 'open' AND d.held_cents <> d.amount_cents) OR (d.status <> 'open' AND d.held_cents <> 0)
UNION ALL
SELECT d.user_id, ('dispute ' || d.dispute_id || ' (' || d.status || ') has chargebacks of ' || COALESCE(sum(t.amount_cents), 0) || ' cents in ' || count(t.id) || ' row(s)')::text
FROM disputes d
LEFT JOIN transactions t ON t.source_key = 'chargeback:' || d.dispute_id
GROUP BY d.user_id, d.dispute_id, d.status, d.amount_cents
HAVING (d.status = 'lost' AND (count(t.id) <> 1 OR COALESCE(sum(t.amount_cents), 0) <> -d.amount_cents))
    OR (d.status <> 'lost' AND count(t.id) <> 0)
UNION ALL
SELECT u.user_id, ('top-up ' || u.id || ' (' || u.origin || ', ' || u.status || ') credited ' || u.credited_cents || ' cents but its deposits add up to ' || COALESCE(dep.total, 0))::text
FROM topups u
LEFT JOIN (SELECT source_key, sum(amount_cents)::bigint AS total FROM transactions WHERE kind = 'deposit' AND source_key LIKE 'deposit:%' GROUP BY source_key) dep
    ON dep.source_key = 'deposit:' || u.id
WHERE COALESCE(dep.total, 0) <> CASE WHEN u.credited_at IS NULL THEN 0 ELSE u.credited_cents END
UNION ALL
SELECT u.user_id, ('automatic top-up ' || u.id || ' was queued by ' || count(c.id) || ' charging crossing(s)')::text
FROM topups u
LEFT JOIN balance_crossings c ON c.topup_id = u.id AND c.id = u.crossing_id AND c.kind = 'auto_topup' AND c.outcome = 'charge'
WHERE u.origin = 'auto'
GROUP BY u.user_id, u.id
HAVING count(c.id) <> 1
UNION ALL
SELECT c.user_id, ('auto top-up crossing ' || c.id || ' charges top-up ' || c.topup_id || ', which does not exist')::text
FROM balance_crossings c
LEFT JOIN topups u ON u.id = c.topup_id
WHERE c.outcome = 'charge' AND u.id IS NULL
UNION ALL
SELECT a.user_id, ('account flagged in debt since ' || a.in_debt_since || ' has balance ' || a.balance_cents)::text
FROM accounts a
WHERE a.in_debt_since IS NOT NULL AND a.balance_cents >= 0;

-- name: VerifyAPIKeySpend :many
-- Every API key month whose spend disagrees with its held and captured
-- holds, or exceeds the limit the last reserve saw.
WITH counted AS (
    SELECT api_key_id, spend_month, sum(amount_cents)::bigint AS total
    FROM holds WHERE api_key_id IS NOT NULL AND status IN ('held', 'captured')
    GROUP BY api_key_id, spend_month
)
SELECT COALESCE(s.api_key_id, c.api_key_id)::uuid AS api_key_id,
       COALESCE(s.month, c.spend_month)::date AS month,
       s.user_id AS user_id,
       COALESCE(s.spent_cents, 0)::bigint AS spent_cents,
       s.limit_cents AS limit_cents,
       COALESCE(c.total, 0)::bigint AS holds_cents
FROM api_key_month_spend s
FULL JOIN counted c ON c.api_key_id = s.api_key_id AND c.spend_month = s.month
WHERE COALESCE(s.spent_cents, 0) <> COALESCE(c.total, 0)
   OR s.spent_cents > s.limit_cents;

-- name: Stats :one
-- The sums over a window are range scans of transactions_kind_page_all; its
-- predicate is stated so that a generic plan can use the index too.
SELECT
    (SELECT COALESCE(sum(a.balance_cents), 0) FROM accounts a)::bigint AS total_balance_cents,
    (SELECT COALESCE(sum(a.held_cents), 0) FROM accounts a)::bigint AS total_held_cents,
    (SELECT count(*) FROM holds h WHERE h.status = 'held')::bigint AS open_holds,
    (SELECT COALESCE(sum(t.amount_cents), 0) FROM transactions t WHERE t.kind = 'deposit' AND t.created_at >= @today::timestamptz AND t.created_at > '-infinity')::bigint AS deposits_today_cents,
    (SELECT COALESCE(-sum(t.amount_cents), 0) FROM transactions t WHERE t.kind = 'fee' AND t.created_at >= @today::timestamptz AND t.created_at > '-infinity')::bigint AS fees_today_cents,
    (SELECT COALESCE(sum(t.amount_cents), 0) FROM transactions t WHERE t.kind = 'deposit' AND t.created_at >= @month::timestamptz AND t.created_at > '-infinity')::bigint AS deposits_30d_cents,
    (SELECT COALESCE(-sum(t.amount_cents), 0) FROM transactions t WHERE t.kind = 'fee' AND t.created_at >= @month::timestamptz AND t.created_at > '-infinity')::bigint AS fees_30d_cents;

-- name: OpenHolds :one
SELECT count(*)::bigint AS n, COALESCE(sum(amount_cents), 0)::bigint AS cents FROM holds WHERE status = 'held';

-- name: HoldsPastExpiry :one
-- Open holds whose expiry has passed: the sweeper should have released
-- them (the metrics gauge; on the partial index holds_open_expiry).
SELECT count(*)::bigint FROM holds WHERE status = 'held' AND expires_at < @now::timestamptz;
