-- +goose Up
-- Outgoing webhooks (docs/webhooks.md): a user's endpoints, the events
-- wallet and workflow publish, one delivery per endpoint and event, and
-- each attempt at a delivery.

CREATE TABLE webhook_endpoints (
    id                         uuid PRIMARY KEY,
    user_id                    uuid NOT NULL,
    url                        text NOT NULL CHECK (length(url) BETWEEN 1 AND 2048),
    events                     text[] NOT NULL CHECK (cardinality(events) > 0),
    description                text NOT NULL DEFAULT '' CHECK (length(description) <= 500),
    enabled                    boolean NOT NULL DEFAULT true,
    disabled_reason            text,
    -- The signing secret, sealed (platform/secretbox, WEBHOOK_SECRETS_KEY)
    -- and bound to the endpoint's id. After a rotation the previous one
    -- still signs until previous_secret_expires_at.
    secret_sealed              bytea NOT NULL,
    previous_secret_sealed     bytea,
    previous_secret_expires_at timestamptz,
    -- The first failed attempt since the last successful one (NULL while
    -- deliveries succeed): the disabling rule reads it.
    failing_since              timestamptz,
    created_at                 timestamptz NOT NULL,
    updated_at                 timestamptz NOT NULL,
    CHECK (enabled = (disabled_reason IS NULL)),
    CHECK ((previous_secret_sealed IS NULL) = (previous_secret_expires_at IS NULL))
);
CREATE INDEX webhook_endpoints_user ON webhook_endpoints (user_id, created_at DESC, id DESC);

-- One row per event a service published (NotifyService.PublishEvent) or a
-- test ping; the body is built once, so every attempt sends the same bytes.
CREATE TABLE webhook_events (
    id              uuid PRIMARY KEY,
    producer        text NOT NULL CHECK (producer <> ''),
    idempotency_key text NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 255),
    request_hash    bytea NOT NULL,
    user_id         uuid NOT NULL,
    type            text NOT NULL,
    -- {"type","timestamp","data"}: exactly what is POSTed; empty when no
    -- endpoint was subscribed (only the key is kept then).
    body            bytea NOT NULL,
    occurred_at     timestamptz NOT NULL,
    created_at      timestamptz NOT NULL,
    UNIQUE (producer, idempotency_key)
);
CREATE INDEX webhook_events_created ON webhook_events (created_at);

CREATE TABLE webhook_deliveries (
    -- A UUIDv7, shown as "msg_" + its 26 Crockford base32 characters: the
    -- webhook-id of every attempt, time-ordered.
    id                   uuid PRIMARY KEY,
    endpoint_id          uuid NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id             uuid NOT NULL REFERENCES webhook_events (id) ON DELETE CASCADE,
    user_id              uuid NOT NULL,
    event_type           text NOT NULL,
    -- pending: an attempt is due or running; succeeded: a 2xx answer;
    -- failed: every attempt failed (or the endpoint was disabled).
    status               text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'succeeded', 'failed')),
    attempts             integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at      timestamptz,
    last_attempt_at      timestamptz,
    last_response_status integer,
    last_error           text CHECK (length(last_error) <= 2048),
    created_at           timestamptz NOT NULL,
    finished_at          timestamptz,
    CHECK ((status = 'pending') = (finished_at IS NULL)),
    UNIQUE (endpoint_id, event_id)
);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, created_at DESC, id DESC);
CREATE INDEX webhook_deliveries_user ON webhook_deliveries (user_id, created_at DESC, id DESC);
-- The oldest-due gauge reads the pending deliveries only.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';

CREATE TABLE webhook_attempts (
    delivery_id     uuid NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    n               integer NOT NULL CHECK (n >= 1),
    started_at      timestamptz NOT NULL,
    duration_ms     integer NOT NULL CHECK (duration_ms >= 0),
    response_status integer,
    error           text CHECK (length(error) <= 2048),
    PRIMARY KEY (delivery_id, n)
);

-- +goose Down
DROP TABLE webhook_attempts;
DROP TABLE webhook_deliveries;
DROP TABLE webhook_events;
DROP TABLE webhook_endpoints;
