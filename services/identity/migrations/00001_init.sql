-- +goose Up
CREATE TABLE users (
    id            uuid PRIMARY KEY,
    -- Stored trimmed, as given; uniqueness ignores letter case (index below).
    email         text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    password_hash text NOT NULL,
    is_admin      boolean NOT NULL DEFAULT false,
    is_active     boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL
);
CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));
CREATE INDEX users_created_at_id_idx ON users (created_at DESC, id DESC);

-- Refresh tokens are stored only as SHA-256 hashes. One family per login:
-- rotation adds a row to the family, reuse of a rotated row revokes it all.
CREATE TABLE refresh_tokens (
    token_hash bytea PRIMARY KEY CHECK (length(token_hash) = 32),
    family_id  uuid NOT NULL,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    rotated_at timestamptz,
    revoked_at timestamptz
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user_live_idx ON refresh_tokens (user_id) WHERE revoked_at IS NULL;
CREATE INDEX refresh_tokens_expires_at_idx ON refresh_tokens (expires_at);

-- Public halves of the access-token signing keys; one is active (retired_at
-- NULL), retired ones stay published until their tokens have expired.
CREATE TABLE signing_keys (
    kid          text PRIMARY KEY,
    public_key   bytea NOT NULL CHECK (length(public_key) = 32),
    activated_at timestamptz NOT NULL,
    retired_at   timestamptz
);

-- Consecutive failed logins per lower(email), whether or not the user exists.
CREATE TABLE login_throttle (
    email_key       text PRIMARY KEY,
    failures        integer NOT NULL CHECK (failures >= 0),
    last_failure_at timestamptz NOT NULL
);
CREATE INDEX login_throttle_last_failure_at_idx ON login_throttle (last_failure_at);

-- Every change made by an admin or by the create-admin command.
CREATE TABLE audit_events (
    id          uuid PRIMARY KEY,
    actor_id    text NOT NULL,
    action      text NOT NULL,
    target_type text NOT NULL,
    target_id   text NOT NULL,
    reason      text NOT NULL DEFAULT '',
    before      jsonb,
    after       jsonb,
    created_at  timestamptz NOT NULL
);
CREATE INDEX audit_events_created_at_id_idx ON audit_events (created_at DESC, id DESC);
CREATE INDEX audit_events_target_idx ON audit_events (target_id, created_at DESC, id DESC);

-- +goose Down
DROP TABLE audit_events;
DROP TABLE login_throttle;
DROP TABLE signing_keys;
DROP TABLE refresh_tokens;
DROP TABLE users;
