-- Series for the charts: every UTC day of the window is a row (zeros
-- filled by generate_series).

-- name: MoneyByDay :many
-- Deposits credited and fees collected (positive) per UTC day from first
-- to last (both midnights UTC); range scans of transactions_kind_page_all.
WITH sums AS (
    SELECT date_trunc('day', created_at AT TIME ZONE 'UTC') AS day,
           COALESCE(sum(amount_cents) FILTER (WHERE kind = 'deposit'), 0) AS deposits,
           COALESCE(-sum(amount_cents) FILTER (WHERE kind = 'fee'), 0) AS fees
    FROM transactions
    WHERE kind IN ('deposit', 'fee') AND created_at >= sqlc.arg(first)::timestamptz AND created_at > '-infinity'
    GROUP BY 1
)
SELECT (s.day AT TIME ZONE 'UTC')::timestamptz AS day,
       COALESCE(m.deposits, 0)::bigint AS deposits_cents,
       COALESCE(m.fees, 0)::bigint AS fees_cents
FROM generate_series(sqlc.arg(first)::timestamptz AT TIME ZONE 'UTC',
                     sqlc.arg(last)::timestamptz AT TIME ZONE 'UTC', interval '1 day') AS s(day)
LEFT JOIN sums m ON m.day = s.day
ORDER BY s.day;

-- name: UserSpendByDay :many
-- One user's fees (positive) per UTC day from first to last (both
-- midnights UTC); a range scan of transactions_user_kind_page.
WITH sums AS (
    SELECT date_trunc('day', created_at AT TIME ZONE 'UTC') AS day, -sum(amount_cents) AS spent
    FROM transactions
    WHERE user_id = sqlc.arg(user_id) AND kind = 'fee' AND created_at >= sqlc.arg(first)::timestamptz
    GROUP BY 1
)
SELECT (s.day AT TIME ZONE 'UTC')::timestamptz AS day,
       COALESCE(m.spent, 0)::bigint AS spent_cents
FROM generate_series(sqlc.arg(first)::timestamptz AT TIME ZONE 'UTC',
                     sqlc.arg(last)::timestamptz AT TIME ZONE 'UTC', interval '1 day') AS s(day)
LEFT JOIN sums m ON m.day = s.day
ORDER BY s.day;
