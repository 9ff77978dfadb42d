-- name: InsertAuditEvent :one
INSERT INTO audit_events (id, actor_id, action, target_type, target_id, reason, before, after)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
RETURNING *;

-- name: ListAuditEvents :many
SELECT * FROM audit_events
WHERE (@target_id::text = '' OR target_id = @target_id::text)
  AND (created_at, id) < (@before_created_at::timestamptz, @before_id::uuid)
ORDER BY created_at DESC, id DESC
LIMIT @row_limit;
