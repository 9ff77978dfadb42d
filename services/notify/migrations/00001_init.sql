-- +goose Up
-- One row per email a service asked for (NotifyService.SendEmail). The row
-- and the River job that sends it are inserted in one transaction, so an
-- email is stored exactly when it will be worked off.
CREATE TABLE emails (
    id              uuid PRIMARY KEY,
    -- The calling service (from its service token) and its key: a repeat of
    -- the pair stores nothing and answers the first row's id.
    producer        text NOT NULL CHECK (producer <> ''),
    idempotency_key text NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 255),
    -- SHA-256 of the request (template, recipient, data): the same key with
    -- another request is refused as idempotency_key_reused.
    request_hash    bytea NOT NULL,
    template        text NOT NULL,
    -- Exactly one recipient: a user (address looked up at send time) or an
    -- address.
    to_user_id      uuid,
    to_address      text,
    -- The template's fields. They may hold secrets (links with tokens):
    -- never logged, and erased ('{}') once the email is final.
    data            jsonb NOT NULL DEFAULT '{}',
    -- queued: waiting for a send or a retry; sent: the SMTP server accepted
    -- it; failed: refused for good or out of attempts; dropped: not sent on
    -- purpose (the user is gone, or the account is disabled), see reason.
    status          text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'sent', 'failed', 'dropped')),
    attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    -- The last send error or the reason for dropping: codes and the
    -- server's text, never a template's data.
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    last_attempt_at timestamptz,
    finished_at     timestamptz,
    CHECK ((to_user_id IS NULL) <> (to_address IS NULL)),
    CHECK ((status = 'queued') = (finished_at IS NULL)),
    UNIQUE (producer, idempotency_key)
);

-- The queue-age gauge and the backlog count read the queued emails only.
CREATE INDEX emails_queued_created ON emails (created_at) WHERE status = 'queued';
-- Pruning finished emails past NOTIFY_RETENTION.
CREATE INDEX emails_finished ON emails (finished_at) WHERE status <> 'queued';

-- +goose Down
DROP TABLE emails;
