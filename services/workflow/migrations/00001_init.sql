-- +goose Up
CREATE TABLE workflows (
    slug                  text PRIMARY KEY CHECK (slug ~ '^[a-z0-9-]{1,64}$'),
    name                  text NOT NULL,
    description           text NOT NULL DEFAULT '',
    webhook_url           text NOT NULL,
    auth_header_name      text NOT NULL DEFAULT '',
    -- AES-256-GCM (nonce || ciphertext) under WORKFLOW_SECRETS_KEY; never returned.
    auth_header_value_enc bytea,
    fee_cents             bigint NOT NULL CHECK (fee_cents >= 1),
    timeout_ms            bigint NOT NULL DEFAULT 30000 CHECK (timeout_ms BETWEEN 100 AND 300000),
    active                boolean NOT NULL DEFAULT true,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE runs (
    id              uuid PRIMARY KEY,
    user_id         text NOT NULL,
    workflow_slug   text NOT NULL REFERENCES workflows (slug),
    status          text NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
    -- The wallet hold's state as this service knows it: pending (reserve sent,
    -- not confirmed), none (refused: no hold), held, capturing (success
    -- recorded, capture due), releasing (failure recorded, release due),
    -- captured, released.
    hold_state      text NOT NULL CHECK (hold_state IN ('pending', 'none', 'held', 'capturing', 'releasing', 'captured', 'released')),
    async           boolean NOT NULL DEFAULT false,
    fee_cents       bigint NOT NULL CHECK (fee_cents >= 1),
    charged_cents   bigint NOT NULL DEFAULT 0 CHECK (charged_cents IN (0, fee_cents)),
    timeout_ms      bigint NOT NULL,
    input           jsonb NOT NULL,
    output          jsonb,
    http_status     integer NOT NULL DEFAULT 0,
    error           text NOT NULL DEFAULT '',
    idempotency_key text,
    request_hash    bytea NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    started_at      timestamptz,
    finished_at     timestamptz,
    -- No request to n8n is in flight after deadline_at; the settler acts on
    -- unfinished runs once deadline_at plus its grace period has passed.
    deadline_at     timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (idempotency_key IS NULL OR char_length(idempotency_key) BETWEEN 1 AND 255)
);

CREATE UNIQUE INDEX runs_user_idempotency_key ON runs (user_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX runs_user_created ON runs (user_id, created_at DESC, id DESC);
CREATE INDEX runs_user_workflow_created ON runs (user_id, workflow_slug, created_at DESC, id DESC);
CREATE INDEX runs_created ON runs (created_at DESC, id DESC);
CREATE INDEX runs_workflow_created ON runs (workflow_slug, created_at DESC, id DESC);
-- The settler's scan: only unsettled runs are in this index.
CREATE INDEX runs_unsettled_deadline ON runs (deadline_at) WHERE hold_state IN ('pending', 'held', 'capturing', 'releasing');

CREATE TABLE audit_events (
    id          uuid PRIMARY KEY,
    actor_id    text NOT NULL,
    action      text NOT NULL,
    target_type text NOT NULL,
    target_id   text NOT NULL,
    reason      text NOT NULL DEFAULT '',
    before      jsonb,
    after       jsonb,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX audit_events_created ON audit_events (created_at DESC, id DESC);
CREATE INDEX audit_events_target_created ON audit_events (target_id, created_at DESC, id DESC);

-- +goose Down
DROP TABLE audit_events;
DROP TABLE runs;
DROP TABLE workflows;
