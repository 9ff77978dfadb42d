-- +goose Up

-- API keys of machine clients (issue 15, shared/spec/api.md "API keys").
-- Only the SHA-256 of a key is stored (secret_hash; the key is shown once,
-- at creation); prefix is its first 12 characters, to tell keys apart in
-- lists. A key is active while revoked_at is NULL and expires_at (if any)
-- is in the future. last_used_at is written at most once a minute.
CREATE TABLE api_keys (
    id                        uuid PRIMARY KEY,
    user_id                   uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name                      text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    prefix                    text NOT NULL CHECK (length(prefix) = 12),
    secret_hash               bytea NOT NULL CHECK (length(secret_hash) = 32),
    scopes                    text[] NOT NULL CHECK (cardinality(scopes) > 0),
    expires_at                timestamptz,
    monthly_spend_limit_cents bigint CHECK (monthly_spend_limit_cents >= 0),
    last_used_at              timestamptz,
    revoked_at                timestamptz,
    created_at                timestamptz NOT NULL
);
-- The gateway's lookup of a presented key.
CREATE UNIQUE INDEX api_keys_secret_hash_key ON api_keys (secret_hash);
-- A user's list, newest first.
CREATE INDEX api_keys_user_created_idx ON api_keys (user_id, created_at DESC, id DESC);
-- Counting a user's unrevoked keys (the limit of 25 active ones).
CREATE INDEX api_keys_user_live_idx ON api_keys (user_id) WHERE revoked_at IS NULL;

-- +goose Down
DROP TABLE api_keys;
