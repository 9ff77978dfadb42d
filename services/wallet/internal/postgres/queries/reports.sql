-- name: VerifyAccounts :many
-- Every account whose ledger, holds or sign disagree with its balance.
WITH ledger AS (
    SELECT user_id, sum(amount_cents)::bigint AS total,
           bool_or(kind IN ('withdrawal', 'chargeback')) AS may_be_negative
    FROM transactions GROUP BY user_id
), open_holds AS (
    SELECT user_id, sum(amount_cents)::bigint AS total FROM holds WHERE status = 'held' GROUP BY user_id
)
SELECT a.user_id, a.balance_cents, a.held_cents,
       COALESCE(l.total, 0)::bigint AS ledger_cents,
       COALESCE(h.total, 0)::bigint AS open_holds_cents,
       COALESCE(l.may_be_negative, false)::boolean AS may_be_negative
FROM accounts a
LEFT JOIN ledger l ON l.user_id = a.user_id
LEFT JOIN open_holds h ON h.user_id = a.user_id
WHERE a.balance_cents <> COALESCE(l.total, 0)
   OR a.held_cents <> COALESCE(h.total, 0)
   OR (a.balance_cents < 0 AND NOT COALESCE(l.may_be_negative, false));

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
