-- name: InsertWorkflow :one
INSERT INTO workflows (slug, name, description, webhook_url, auth_header_name, auth_header_value_enc, fee_cents, timeout_ms, active,
                       completion, callback_timeout_ms, signing_secret_enc)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
RETURNING *;

-- name: GetWorkflow :one
SELECT * FROM workflows WHERE slug = $1;

-- name: GetWorkflowForUpdate :one
SELECT * FROM workflows WHERE slug = $1 FOR UPDATE;

-- name: UpdateWorkflow :one
UPDATE workflows
SET name = $2, description = $3, webhook_url = $4, auth_header_name = $5, auth_header_value_enc = $6,
    fee_cents = $7, timeout_ms = $8, active = $9, completion = $10, callback_timeout_ms = $11,
    signing_secret_enc = $12, updated_at = now()
WHERE slug = $1
RETURNING *;

-- name: ListWorkflows :many
SELECT * FROM workflows
WHERE (NOT sqlc.arg(active_only)::boolean OR active)
ORDER BY slug;

-- name: InsertAuditEvent :exec
INSERT INTO audit_events (id, actor_id, action, target_type, target_id, reason, before, after)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8);

-- name: ListAuditEvents :many
SELECT * FROM audit_events
WHERE (sqlc.narg(target_id)::text IS NULL OR target_id = sqlc.narg(target_id))
  AND (sqlc.narg(cursor_created)::timestamptz IS NULL
       OR (created_at, id) < (sqlc.narg(cursor_created)::timestamptz, sqlc.narg(cursor_id)::uuid))
ORDER BY created_at DESC, id DESC
LIMIT sqlc.arg(max_rows);
