-- name: EnsureLoginThrottle :exec
INSERT INTO login_throttle (email_key, failures, last_failure_at)
VALUES ($1, 0, to_timestamp(0))
ON CONFLICT (email_key) DO NOTHING;

-- name: LoginThrottleForUpdate :one
SELECT * FROM login_throttle WHERE email_key = $1 FOR UPDATE;

-- name: SetLoginThrottle :exec
UPDATE login_throttle SET failures = $2, last_failure_at = $3 WHERE email_key = $1;

-- name: ResetLoginThrottle :exec
DELETE FROM login_throttle WHERE email_key = $1;

-- name: DeleteStaleLoginThrottle :execrows
DELETE FROM login_throttle WHERE last_failure_at < @before::timestamptz;
