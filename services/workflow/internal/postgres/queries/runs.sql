-- name: InsertRun :one
-- Inserts a run; on a repeated idempotency key nothing is inserted and no row returns.
-- An async run starts queued; a sync run is recorded running at once (the
-- running mark is written before the request to n8n, as MarkRunning's is),
-- so its reserve needs no further write before the call.
-- input_bytes is the size of the input as stored (jsonb's text), which
-- ListRuns compares with its bound.
INSERT INTO runs (id, user_id, workflow_slug, status, hold_state, async, fee_cents, timeout_ms, input,
                  idempotency_key, request_hash, deadline_at, started_at, input_bytes)
VALUES ($1, $2, $3, $11, 'pending', $4, $5, $6, $7, $8, $9, $10,
        CASE WHEN $11::text = 'running' THEN now() END, octet_length($7::jsonb::text))
ON CONFLICT (user_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
RETURNING *;

-- name: GetRun :one
SELECT * FROM runs WHERE id = $1;

-- name: GetRunByKey :one
SELECT * FROM runs WHERE user_id = $1 AND idempotency_key = $2;

-- name: ListRuns :many
-- Keyset page, newest first. A user's list is served by runs_user_created or
-- runs_user_workflow_created; only a list without a user states the
-- predicate of the operators' partial indexes (runs_created_all,
-- runs_workflow_created_all), so the planner cannot read a user's page from
-- them (migration 00003 says why).
-- An input or output over max_value_bytes is left out (NULL), so that a
-- page stays small whatever the runs hold; GetRun has every value. Runs
-- stored before migration 00004 have no sizes and are measured here.
SELECT id, user_id, workflow_slug, status, hold_state, async, fee_cents, charged_cents, timeout_ms,
       (CASE WHEN coalesce(input_bytes, octet_length(input::text)) <= sqlc.arg(max_value_bytes)::int
             THEN input END)::jsonb AS input,
       (CASE WHEN coalesce(output_bytes, octet_length(output::text)) <= sqlc.arg(max_value_bytes)::int
             THEN output END)::jsonb AS output,
       http_status, error, idempotency_key, request_hash, created_at, started_at, finished_at, deadline_at
FROM runs
WHERE (sqlc.narg(user_id)::text IS NULL OR user_id = sqlc.narg(user_id))
  AND (sqlc.narg(user_id)::text IS NOT NULL OR created_at > '-infinity')
  AND (sqlc.narg(workflow)::text IS NULL OR workflow_slug = sqlc.narg(workflow))
  AND (sqlc.narg(status)::text IS NULL OR status = sqlc.narg(status))
  AND (sqlc.narg(cursor_created)::timestamptz IS NULL
       OR (created_at, id) < (sqlc.narg(cursor_created)::timestamptz, sqlc.narg(cursor_id)::uuid))
ORDER BY created_at DESC, id DESC
LIMIT sqlc.arg(max_rows);

-- name: MarkReserveRefused :one
-- The wallet refused the fee: the run never started (a sync run's
-- started_at from the insert is cleared) and costs nothing; its input is
-- replaced by the short preview the domain made of it.
UPDATE runs
SET status = 'failed', hold_state = 'none', error = $2, input = $3, input_bytes = octet_length($3::jsonb::text),
    started_at = NULL, finished_at = now(), updated_at = now()
WHERE id = $1 AND hold_state = 'pending'
RETURNING *;

-- name: MarkHeld :one
UPDATE runs SET hold_state = 'held', updated_at = now()
WHERE id = $1 AND hold_state = 'pending'
RETURNING *;

-- name: MarkRunning :one
-- Written before the request to n8n is sent: a run found running afterwards
-- may have reached n8n and is never sent again.
UPDATE runs SET status = 'running', started_at = now(), updated_at = now()
WHERE id = $1 AND status = 'queued' AND hold_state = 'held'
RETURNING *;

-- name: RecordSuccess :one
-- n8n answered 2xx: the capture is now due (the settler finishes it after a crash).
-- A sync run's hold is still recorded pending here: only the process that
-- saw its reserve succeed calls n8n and records the success.
UPDATE runs
SET hold_state = 'capturing', http_status = $2, output = $3, output_bytes = octet_length($3::jsonb::text), updated_at = now()
WHERE id = $1 AND status = 'running' AND hold_state IN ('pending', 'held')
RETURNING *;

-- name: RecordFailure :one
-- The run failed before capture: it costs nothing and the release is now due.
UPDATE runs
SET status = 'failed', hold_state = 'releasing', charged_cents = 0, http_status = $2, output = $3,
    output_bytes = octet_length($3::jsonb::text), error = $4, finished_at = now(), updated_at = now()
WHERE id = $1 AND status IN ('queued', 'running') AND hold_state IN ('pending', 'held')
RETURNING *;

-- name: MarkCaptured :one
UPDATE runs
SET status = 'succeeded', hold_state = 'captured', charged_cents = fee_cents, finished_at = now(), updated_at = now()
WHERE id = $1 AND hold_state = 'capturing'
RETURNING *;

-- name: MarkCaptureLost :one
-- The hold was gone when the capture came (expired in the wallet): the run
-- succeeded but was not charged.
UPDATE runs
SET status = 'succeeded', hold_state = 'released', charged_cents = 0, error = $2, finished_at = now(), updated_at = now()
WHERE id = $1 AND hold_state = 'capturing'
RETURNING *;

-- name: MarkReleased :one
UPDATE runs SET hold_state = 'released', updated_at = now()
WHERE id = $1 AND hold_state = 'releasing'
RETURNING *;

-- name: ListUnsettled :many
-- Runs whose deadline passed before the given time and whose hold is not
-- final (unsettled: the partial index runs_unsettled_deadline).
SELECT * FROM runs
WHERE unsettled AND deadline_at < $1
ORDER BY deadline_at
LIMIT $2;

-- name: CountRunsByStatus :many
-- Runs created at or after since, per status; the window is a range scan of
-- runs_created_all (its predicate stated, so a generic plan can use it too).
SELECT status, count(*)::bigint AS runs
FROM runs
WHERE created_at >= sqlc.arg(since) AND created_at > '-infinity'
GROUP BY status;

-- name: TopFailingWorkflows :many
-- The workflows with the most failed runs created at or after since (only
-- workflows that failed at least once), most failures first, then by slug.
SELECT workflow_slug,
       (count(*) FILTER (WHERE status = 'failed'))::bigint AS failed,
       count(*)::bigint AS total
FROM runs
WHERE created_at >= sqlc.arg(since) AND created_at > '-infinity'
GROUP BY workflow_slug
HAVING count(*) FILTER (WHERE status = 'failed') > 0
ORDER BY failed DESC, workflow_slug
LIMIT sqlc.arg(max_rows);
