-- name: InsertRun :one
-- Inserts a run in its initial state (workflow.initialState); on a repeated
-- idempotency key nothing is inserted and no row returns. A sync run is
-- recorded running at once (the running mark is written before the request
-- to n8n, as MarkRunning's is), so its reserve needs no further write
-- before the call.
-- input_bytes is the size of the input as stored (jsonb's text), which
-- ListRuns compares with its bound.
-- A sync run in callback mode carries its callback token's hash from here
-- (the token goes out with the call that follows); an async one gets it
-- when it is marked running (MarkRunning).
INSERT INTO runs (id, user_id, workflow_slug, status, hold_state, async, fee_cents, timeout_ms, input,
                  idempotency_key, request_hash, deadline_at, started_at, input_bytes, api_key_id,
                  completion, callback_token_hash, callback_timeout_ms)
VALUES (@id, @user_id, @workflow_slug, @status, @hold_state, @async, @fee_cents, @timeout_ms, @input,
        @idempotency_key, @request_hash, @deadline_at,
        CASE WHEN sqlc.arg(status)::text = 'running' THEN now() END, octet_length(sqlc.arg(input)::jsonb::text),
        sqlc.narg(api_key_id), @completion, sqlc.narg(callback_token_hash), sqlc.narg(callback_timeout_ms))
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
       http_status, error, idempotency_key, request_hash, created_at, started_at, finished_at, deadline_at,
       api_key_id, completion
FROM runs
WHERE (sqlc.narg(user_id)::text IS NULL OR user_id = sqlc.narg(user_id))
  AND (sqlc.narg(user_id)::text IS NOT NULL OR created_at > '-infinity')
  AND (sqlc.narg(workflow)::text IS NULL OR workflow_slug = sqlc.narg(workflow))
  AND (sqlc.narg(status)::text IS NULL OR status = sqlc.narg(status))
  AND (sqlc.narg(cursor_created)::timestamptz IS NULL
       OR (created_at, id) < (sqlc.narg(cursor_created)::timestamptz, sqlc.narg(cursor_id)::uuid))
ORDER BY created_at DESC, id DESC
LIMIT sqlc.arg(max_rows);

-- The transitions below are the run state machine's writes
-- (internal/workflow/machine.go). Each is guarded by the states the table
-- lets its event leave (from_states, as "status/hold") and enters the
-- table's target state (to_status, to_hold): a run in any other state is
-- left alone and no row returns (workflow.ErrStateChanged). Which columns
-- a transition writes depends on the state it enters.

-- name: MarkReserveRefused :one
-- Enters failed/none: the wallet refused the fee. The run never started (a
-- sync run's started_at from the insert is cleared) and costs nothing; its
-- input is replaced by the short preview the domain made of it.
UPDATE runs
SET status = @to_status, hold_state = @to_hold, error = @error, input = @input,
    input_bytes = octet_length(sqlc.arg(input)::jsonb::text), started_at = NULL, finished_at = now(), updated_at = now()
WHERE id = @id AND status || '/' || hold_state = ANY(@from_states::text[])
RETURNING *;

-- name: MarkHeld :one
-- Enters queued/held; the store inserts the run's job in the same transaction.
UPDATE runs SET status = @to_status, hold_state = @to_hold, updated_at = now()
WHERE id = @id AND status || '/' || hold_state = ANY(@from_states::text[])
RETURNING *;

-- name: MarkRunning :one
-- Enters running/held, before the request to n8n is sent: a run found
-- running afterwards may have reached n8n and is never sent again. An
-- async run in callback mode gets its callback token's hash here, and its
-- deadline measured from the call (both NULL: unchanged).
UPDATE runs
SET status = @to_status, hold_state = @to_hold, started_at = now(), updated_at = now(),
    callback_token_hash = coalesce(sqlc.narg(callback_token_hash), callback_token_hash),
    deadline_at = coalesce(sqlc.narg(deadline_at), deadline_at)
WHERE id = @id AND status || '/' || hold_state = ANY(@from_states::text[])
RETURNING *;

-- name: MarkAwaiting :one
-- Enters running/awaiting: n8n acknowledged the call of a run in callback
-- mode; the fee stays held until the verdict or the deadline.
UPDATE runs SET status = @to_status, hold_state = @to_hold, http_status = @http_status, updated_at = now()
WHERE id = @id AND status || '/' || hold_state = ANY(@from_states::text[])
RETURNING *;

-- name: RecordSuccess :one
-- Enters running/capturing: n8n answered 2xx, or the workflow's verdict
-- said succeeded, and the capture is due (the settler finishes it after a
-- crash). An http_status of 0 keeps the one recorded (a verdict has none
-- of its own); a verdict also brings the deadline forward to now, since
-- only the capture is left to do.
UPDATE runs
SET status = @to_status, hold_state = @to_hold,
    http_status = CASE WHEN @http_status::int = 0 THEN http_status ELSE @http_status::int END, output = @output,
    output_bytes = octet_length(sqlc.arg(output)::jsonb::text), updated_at = now(),
    deadline_at = coalesce(sqlc.narg(deadline_at), deadline_at)
WHERE id = @id AND status || '/' || hold_state = ANY(@from_states::text[])
RETURNING *;

-- name: RecordFailure :one
-- Enters failed/releasing: the run failed before capture, costs nothing and
-- the release is due. http_status 0 and the deadline as RecordSuccess.
UPDATE runs
SET status = @to_status, hold_state = @to_hold, charged_cents = 0,
    http_status = CASE WHEN @http_status::int = 0 THEN http_status ELSE @http_status::int END, output = @output,
    output_bytes = octet_length(sqlc.arg(output)::jsonb::text), error = @error, finished_at = now(), updated_at = now(),
    deadline_at = coalesce(sqlc.narg(deadline_at), deadline_at)
WHERE id = @id AND status || '/' || hold_state = ANY(@from_states::text[])
RETURNING *;

-- name: MarkCaptured :one
-- Enters succeeded/captured: the fee is charged.
UPDATE runs
SET status = @to_status, hold_state = @to_hold, charged_cents = fee_cents, finished_at = now(), updated_at = now()
WHERE id = @id AND status || '/' || hold_state = ANY(@from_states::text[])
RETURNING *;

-- name: MarkCaptureLost :one
-- Enters succeeded/released: the hold was gone when the capture came
-- (expired in the wallet), so the run succeeded but was not charged.
UPDATE runs
SET status = @to_status, hold_state = @to_hold, charged_cents = 0, error = @error, finished_at = now(), updated_at = now()
WHERE id = @id AND status || '/' || hold_state = ANY(@from_states::text[])
RETURNING *;

-- name: MarkReleased :one
-- Enters failed/released: the hold is freed.
UPDATE runs SET status = @to_status, hold_state = @to_hold, updated_at = now()
WHERE id = @id AND status || '/' || hold_state = ANY(@from_states::text[])
RETURNING *;

-- name: ListAwaitingCallback :many
-- The callback-mode runs still waiting for their verdict (in one of the
-- states listed), newest first, for the operators; on the small partial
-- index runs_callback_running. Values over max_value_bytes are left out
-- as in ListRuns.
SELECT id, user_id, workflow_slug, status, hold_state, async, fee_cents, charged_cents, timeout_ms,
       (CASE WHEN coalesce(input_bytes, octet_length(input::text)) <= sqlc.arg(max_value_bytes)::int
             THEN input END)::jsonb AS input,
       (CASE WHEN coalesce(output_bytes, octet_length(output::text)) <= sqlc.arg(max_value_bytes)::int
             THEN output END)::jsonb AS output,
       http_status, error, idempotency_key, request_hash, created_at, started_at, finished_at, deadline_at,
       api_key_id, completion
FROM runs
WHERE completion = 'callback' AND status = 'running'
  AND status || '/' || hold_state = ANY(@states::text[])
  AND (sqlc.narg(user_id)::text IS NULL OR user_id = sqlc.narg(user_id))
  AND (sqlc.narg(workflow)::text IS NULL OR workflow_slug = sqlc.narg(workflow))
  AND (sqlc.narg(cursor_created)::timestamptz IS NULL
       OR (created_at, id) < (sqlc.narg(cursor_created)::timestamptz, sqlc.narg(cursor_id)::uuid))
ORDER BY created_at DESC, id DESC
LIMIT sqlc.arg(max_rows);

-- name: ListUnsettled :many
-- Runs whose deadline passed before the given time and whose hold is not
-- final (unsettled: the partial index runs_unsettled_deadline).
SELECT * FROM runs
WHERE unsettled AND deadline_at < $1
ORDER BY deadline_at
LIMIT $2;

-- name: CountUnsettled :one
-- Runs whose deadline passed before the given time with their hold not
-- final: what the settler has not settled (the metrics gauge; the same
-- partial index as ListUnsettled).
SELECT count(*)::bigint FROM runs
WHERE unsettled AND deadline_at < $1;

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
