-- login_throttle: failures of one account from every client (the
-- account-wide ceiling). login_client_throttle: failures of one account
-- from one client address. login_known_clients: addresses that logged in.

-- name: EnsureLoginThrottle :exec
INSERT INTO login_throttle (email_key, failures, last_failure_at)
VALUES ($1, 0, to_timestamp(0))
ON CONFLICT (email_key) DO NOTHING;

-- name: LoginThrottleForUpdate :one
SELECT * FROM login_throttle WHERE email_key = $1 FOR UPDATE;

-- name: SetLoginThrottle :exec
UPDATE login_throttle SET failures = $2, last_failure_at = $3 WHERE email_key = $1;

-- name: DeleteStaleLoginThrottle :execrows
DELETE FROM login_throttle WHERE last_failure_at < @before::timestamptz;

-- name: EnsureLoginClientThrottle :exec
INSERT INTO login_client_throttle (email_key, client_key, failures, last_failure_at)
VALUES ($1, $2, 0, to_timestamp(0))
ON CONFLICT (email_key, client_key) DO NOTHING;

-- name: LoginClientThrottleForUpdate :one
SELECT * FROM login_client_throttle WHERE email_key = $1 AND client_key = $2 FOR UPDATE;

-- name: SetLoginClientThrottle :exec
UPDATE login_client_throttle SET failures = $3, last_failure_at = $4
WHERE email_key = $1 AND client_key = $2;

-- name: ResetLoginClientThrottle :exec
DELETE FROM login_client_throttle WHERE email_key = $1 AND client_key = $2;

-- name: DeleteStaleLoginClientThrottle :execrows
DELETE FROM login_client_throttle WHERE last_failure_at < @before::timestamptz;

-- name: KnownLoginClient :one
-- The last successful login of the account from the client, if any.
SELECT last_success_at FROM login_known_clients WHERE email_key = $1 AND client_key = $2;

-- name: RememberLoginClient :exec
INSERT INTO login_known_clients (email_key, client_key, last_success_at)
VALUES ($1, $2, $3)
ON CONFLICT (email_key, client_key) DO UPDATE SET last_success_at = excluded.last_success_at;

-- name: DeleteStaleKnownLoginClients :execrows
DELETE FROM login_known_clients WHERE last_success_at < @before::timestamptz;
