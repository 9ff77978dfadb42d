-- +goose Up

-- Single-use tokens of the links identity emails (issue 16,
-- shared/spec/api.md "Account lifecycle and email"): verify_email (48 h)
-- and password_reset (30 min). Only the SHA-256 of a token is stored; the
-- token itself is in the emailed link only. used_at is set when the link
-- is used and when a newer link of the same purpose, or a password reset,
-- ends it: a token works while used_at IS NULL and expires_at > now.
CREATE TABLE account_tokens (
    token_hash bytea PRIMARY KEY CHECK (length(token_hash) = 32),
    purpose    text NOT NULL CHECK (purpose IN ('verify_email', 'password_reset')),
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);
-- Ending a user's live links of one purpose.
CREATE INDEX account_tokens_user_live_idx ON account_tokens (user_id, purpose) WHERE used_at IS NULL;
-- Pruning.
CREATE INDEX account_tokens_expires_at_idx ON account_tokens (expires_at);

-- +goose Down
DROP TABLE account_tokens;
