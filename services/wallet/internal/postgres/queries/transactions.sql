-- name: InsertTransaction :one
INSERT INTO transactions (id, user_id, kind, amount_cents, balance_after_cents, description, reference_type, reference_id, source_key)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
RETURNING *;

-- name: GetTransactionBySourceKey :one
SELECT * FROM transactions WHERE source_key = $1;

-- name: GetTransaction :one
SELECT * FROM transactions WHERE id = $1;

-- name: SourceKeyExists :one
SELECT EXISTS (SELECT 1 FROM transactions WHERE source_key = $1);

-- name: ListUserTransactions :many
-- Keyset page, newest first; served by transactions_user_page / _user_kind_page
-- (never by the operators' partial indexes: migration 00003).
SELECT * FROM transactions
WHERE user_id = @user_id
  AND (@kind::text = '' OR kind = @kind::text)
  AND (created_at, id) < (@before_created_at::timestamptz, @before_id::uuid)
ORDER BY created_at DESC, id DESC
LIMIT @row_limit;

-- name: ListAllTransactions :many
-- The operators' list (any filter, or a user with a search or dates). Only
-- without a user does it state the predicate of the partial indexes
-- transactions_page_all and transactions_kind_page_all; the date bounds are
-- row comparisons, which the planner does not take as implying that
-- predicate, so a list with a user is read from the user's indexes
-- (migration 00003). (created_at, id) >= (t, nil uuid) is created_at >= t,
-- and (created_at, id) < (t, nil uuid) is created_at < t.
SELECT * FROM transactions
WHERE (sqlc.narg('user_id')::uuid IS NULL OR user_id = sqlc.narg('user_id')::uuid)
  AND (sqlc.narg('user_id')::uuid IS NOT NULL OR created_at > '-infinity')
  AND (@kind::text = '' OR kind = @kind::text)
  AND (@query::text = '' OR strpos(lower(description), lower(@query::text)) > 0 OR strpos(lower(reference_id), lower(@query::text)) > 0)
  AND (created_at, id) >= (@created_from::timestamptz, '00000000-0000-0000-0000-000000000000'::uuid)
  AND (created_at, id) < (@created_to::timestamptz, '00000000-0000-0000-0000-000000000000'::uuid)
  AND (created_at, id) < (@before_created_at::timestamptz, @before_id::uuid)
ORDER BY created_at DESC, id DESC
LIMIT @row_limit;
