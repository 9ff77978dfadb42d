-- name: InsertAuditEvent :exec
INSERT INTO audit_events (id, actor_id, action, target_type, target_id, reason, before, after, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9);

-- name: ListAuditEvents :many
SELECT * FROM audit_events
WHERE (@target_id::text = '' OR target_id = @target_id::text)
  AND (sqlc.narg(after_created_at)::timestamptz IS NULL
       OR (created_at, id) < (sqlc.narg(after_created_at)::timestamptz, @after_id::uuid))
ORDER BY created_at DESC, id DESC
LIMIT @row_limit;
