-- Series for the charts: every bucket of the window is a row (zeros filled
-- by generate_series), times are UTC.

-- name: RunsByHour :many
-- Runs created at or after since, per UTC hour from first to last (both
-- hour starts) and status; a range scan of runs_created_all.
WITH counts AS (
    SELECT date_trunc('hour', created_at AT TIME ZONE 'UTC') AS hour,
           count(*) FILTER (WHERE status = 'queued') AS queued,
           count(*) FILTER (WHERE status = 'running') AS running,
           count(*) FILTER (WHERE status = 'succeeded') AS succeeded,
           count(*) FILTER (WHERE status = 'failed') AS failed
    FROM runs
    WHERE created_at >= sqlc.arg(since)::timestamptz AND created_at > '-infinity'
    GROUP BY 1
)
SELECT (s.hour AT TIME ZONE 'UTC')::timestamptz AS hour,
       COALESCE(c.queued, 0)::bigint AS queued,
       COALESCE(c.running, 0)::bigint AS running,
       COALESCE(c.succeeded, 0)::bigint AS succeeded,
       COALESCE(c.failed, 0)::bigint AS failed
FROM generate_series(sqlc.arg(first)::timestamptz AT TIME ZONE 'UTC',
                     sqlc.arg(last)::timestamptz AT TIME ZONE 'UTC', interval '1 hour') AS s(hour)
LEFT JOIN counts c ON c.hour = s.hour
ORDER BY s.hour;

-- name: BusiestWorkflows :many
-- The workflows with the most runs created at or after since, most first,
-- then by slug.
SELECT workflow_slug,
       count(*)::bigint AS total,
       (count(*) FILTER (WHERE status = 'queued'))::bigint AS queued,
       (count(*) FILTER (WHERE status = 'running'))::bigint AS running,
       (count(*) FILTER (WHERE status = 'succeeded'))::bigint AS succeeded,
       (count(*) FILTER (WHERE status = 'failed'))::bigint AS failed
FROM runs
WHERE created_at >= sqlc.arg(since)::timestamptz AND created_at > '-infinity'
GROUP BY workflow_slug
ORDER BY total DESC, workflow_slug
LIMIT sqlc.arg(max_rows);

-- name: UserRunsByDay :many
-- One user's runs per UTC day from first to last (both midnights UTC) and
-- status; a range scan of runs_user_created.
WITH counts AS (
    SELECT date_trunc('day', created_at AT TIME ZONE 'UTC') AS day,
           count(*) FILTER (WHERE status = 'queued') AS queued,
           count(*) FILTER (WHERE status = 'running') AS running,
           count(*) FILTER (WHERE status = 'succeeded') AS succeeded,
           count(*) FILTER (WHERE status = 'failed') AS failed
    FROM runs
    WHERE user_id = sqlc.arg(user_id) AND created_at >= sqlc.arg(first)::timestamptz
    GROUP BY 1
)
SELECT (s.day AT TIME ZONE 'UTC')::timestamptz AS day,
       COALESCE(c.queued, 0)::bigint AS queued,
       COALESCE(c.running, 0)::bigint AS running,
       COALESCE(c.succeeded, 0)::bigint AS succeeded,
       COALESCE(c.failed, 0)::bigint AS failed
FROM generate_series(sqlc.arg(first)::timestamptz AT TIME ZONE 'UTC',
                     sqlc.arg(last)::timestamptz AT TIME ZONE 'UTC', interval '1 day') AS s(day)
LEFT JOIN counts c ON c.day = s.day
ORDER BY s.day;
