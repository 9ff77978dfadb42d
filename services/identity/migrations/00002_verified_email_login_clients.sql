-- +goose Up
-- When the user proved they own the email; NULL until then. Adding a
-- nullable column without a default only changes the catalog (no rewrite).
ALTER TABLE users ADD COLUMN email_verified_at timestamptz;

-- The absolute end of a login whose caller asked for a shorter refresh
-- lifetime (the admin console: its session's end); rotations never move a
-- token's expiry past it. NULL: sliding REFRESH_TOKEN_TTL only.
ALTER TABLE refresh_tokens ADD COLUMN login_expires_at timestamptz;

-- login_throttle now counts failures of one account from every client
-- (the account-wide ceiling); this table counts them per account and
-- client address (the strict per-client backoff).
CREATE TABLE login_client_throttle (
    email_key       text NOT NULL,
    client_key      text NOT NULL,
    failures        integer NOT NULL CHECK (failures >= 0),
    last_failure_at timestamptz NOT NULL,
    PRIMARY KEY (email_key, client_key)
);
CREATE INDEX login_client_throttle_last_failure_at_idx ON login_client_throttle (last_failure_at);

-- Client addresses that logged in to an account successfully: they are
-- exempt from the account-wide ceiling, so a distributed attack on an
-- account does not keep its owner out.
CREATE TABLE login_known_clients (
    email_key       text NOT NULL,
    client_key      text NOT NULL,
    last_success_at timestamptz NOT NULL,
    PRIMARY KEY (email_key, client_key)
);
CREATE INDEX login_known_clients_last_success_at_idx ON login_known_clients (last_success_at);

-- +goose Down
DROP TABLE login_known_clients;
DROP TABLE login_client_throttle;
ALTER TABLE refresh_tokens DROP COLUMN login_expires_at;
ALTER TABLE users DROP COLUMN email_verified_at;
