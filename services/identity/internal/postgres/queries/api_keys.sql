-- name: InsertAPIKey :one
INSERT INTO api_keys (id, user_id, name, prefix, secret_hash, scopes, expires_at, monthly_spend_limit_cents, created_at)
VALUES (@id, @user_id, @name, @prefix, @secret_hash, @scopes, sqlc.narg(expires_at), sqlc.narg(monthly_spend_limit_cents), @created_at)
RETURNING *;

-- name: CountActiveAPIKeys :one
-- Keys of the user that are neither revoked nor expired at @now.
SELECT count(*) FROM api_keys
WHERE user_id = @user_id AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > @now::timestamptz);

-- name: ListAPIKeys :many
-- Keyset pagination, newest first: active, expired and revoked keys alike.
SELECT * FROM api_keys
WHERE user_id = @user_id
  AND (sqlc.narg(after_created_at)::timestamptz IS NULL
       OR (created_at, id) < (sqlc.narg(after_created_at)::timestamptz, @after_id::uuid))
ORDER BY created_at DESC, id DESC
LIMIT @row_limit;

-- name: APIKeyByIDForUpdate :one
SELECT * FROM api_keys WHERE id = $1 FOR UPDATE;

-- name: RevokeAPIKey :one
-- Writes a revocation identity.decideRevocation made, under the row lock of
-- APIKeyByIDForUpdate.
UPDATE api_keys SET revoked_at = @revoked_at WHERE id = @id RETURNING *;

-- name: APIKeyByHash :one
-- A presented key and its user, in one lookup of api_keys_secret_hash_key.
SELECT sqlc.embed(api_keys), sqlc.embed(users)
FROM api_keys JOIN users ON users.id = api_keys.user_id
WHERE api_keys.secret_hash = @secret_hash;

-- name: TouchAPIKey :exec
-- Records a use at most once per interval: no row qualifies (and nothing is
-- written) while the last recorded use is after @before.
UPDATE api_keys SET last_used_at = @now
WHERE id = @id AND (last_used_at IS NULL OR last_used_at < @before::timestamptz);
