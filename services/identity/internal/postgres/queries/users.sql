-- name: InsertUser :one
INSERT INTO users (id, email, password_hash, is_admin, is_active, email_verified_at, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
RETURNING *;

-- name: UserByEmail :one
SELECT * FROM users WHERE lower(email) = lower(@email::text);

-- name: UserByID :one
SELECT * FROM users WHERE id = $1;

-- name: UserByIDForUpdate :one
SELECT * FROM users WHERE id = $1 FOR UPDATE;

-- name: UpdateUser :one
-- Writes a user as identity.UserUpdate decided it, under the row lock of
-- UserByIDForUpdate; the password changes only when one is given.
UPDATE users SET is_active = @is_active, is_admin = @is_admin, email_verified_at = sqlc.narg(email_verified_at),
    password_hash = coalesce(sqlc.narg(password_hash), password_hash), updated_at = @updated_at
WHERE id = @id
RETURNING *;

-- name: ListUsers :many
-- Keyset pagination, newest first; strpos avoids LIKE's wildcard escaping.
SELECT * FROM users
WHERE (@query::text = '' OR strpos(lower(email), lower(@query::text)) > 0)
  AND (sqlc.narg(after_created_at)::timestamptz IS NULL
       OR (created_at, id) < (sqlc.narg(after_created_at)::timestamptz, @after_id::uuid))
ORDER BY created_at DESC, id DESC
LIMIT @row_limit;

-- name: UserStats :one
-- One scan of users for the admin overview; today and 30d are passed in so
-- the service's clock decides the windows.
SELECT count(*)                                            AS users_total,
       count(*) FILTER (WHERE is_active)                   AS users_active,
       count(*) FILTER (WHERE is_admin)                    AS admins,
       count(*) FILTER (WHERE created_at >= @today_start::timestamptz)   AS new_today,
       count(*) FILTER (WHERE created_at >= @since_30d::timestamptz)     AS new_30d
FROM users;
