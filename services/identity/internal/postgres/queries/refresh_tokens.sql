-- name: InsertRefreshToken :exec
INSERT INTO refresh_tokens (token_hash, family_id, user_id, created_at, expires_at, login_expires_at)
VALUES ($1, $2, $3, $4, $5, $6);

-- name: RotateRefreshToken :one
-- The conditional update is the race guard: of two concurrent refreshes of
-- one token, the second waits for the first's row lock, re-checks the WHERE
-- clause and updates nothing.
UPDATE refresh_tokens SET rotated_at = @now::timestamptz
WHERE token_hash = @token_hash
  AND rotated_at IS NULL AND revoked_at IS NULL AND expires_at > @now::timestamptz
RETURNING family_id, user_id, login_expires_at;

-- name: RefreshTokenByHash :one
SELECT * FROM refresh_tokens WHERE token_hash = $1;

-- name: RevokeFamilyOfToken :exec
UPDATE refresh_tokens SET revoked_at = @now::timestamptz
WHERE family_id = (SELECT family_id FROM refresh_tokens t WHERE t.token_hash = @token_hash)
  AND revoked_at IS NULL;

-- name: DeleteExpiredRefreshTokens :execrows
DELETE FROM refresh_tokens WHERE expires_at < @before::timestamptz;

-- name: RevokeUserTokensExceptFamily :execrows
-- Revokes every live token of the user but those of keep_family (pass the
-- nil UUID, which no family has, to revoke them all).
UPDATE refresh_tokens SET revoked_at = @now::timestamptz
WHERE user_id = @user_id AND revoked_at IS NULL AND family_id <> @keep_family;
