-- name: InsertAccountToken :exec
INSERT INTO account_tokens (token_hash, purpose, user_id, created_at, expires_at)
VALUES ($1, $2, $3, $4, $5);

-- name: EndAccountTokens :execrows
-- Ends every live link of the user for the purposes given.
UPDATE account_tokens SET used_at = @now::timestamptz
WHERE user_id = @user_id AND purpose = ANY(@purposes::text[]) AND used_at IS NULL;

-- name: UseAccountToken :one
-- The conditional update is the single-use guard: of two concurrent uses
-- of one link, the second waits for the row lock, re-checks and updates
-- nothing.
UPDATE account_tokens SET used_at = @now::timestamptz
WHERE token_hash = @token_hash AND purpose = @purpose
  AND used_at IS NULL AND expires_at > @now::timestamptz
RETURNING user_id;

-- name: DeleteExpiredAccountTokens :execrows
DELETE FROM account_tokens WHERE expires_at < @before::timestamptz;

