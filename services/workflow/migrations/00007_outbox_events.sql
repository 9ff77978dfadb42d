-- +goose Up

-- The runs' webhook events leave through a table of their own instead of a
-- River job each (docs/adr/0021-event-outbox-relay.md): a settled run's
-- event is a row inserted in the transaction that settles it (one INSERT
-- for a batch of runs), and platform/outbox's Relay hands the rows to
-- notify in batches (PublishEvents, keys "workflow:outbox:<id>") and
-- deletes them in the same transaction. The statement is
-- platform/outbox.TableSQL, verbatim. Event jobs River holds at the
-- upgrade are still worked off by the outbox queue's EventWorker.
CREATE TABLE outbox_events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     text        NOT NULL,
    type        text        NOT NULL,
    data        bytea       NOT NULL,
    occurred_at timestamptz NOT NULL,
    trace       jsonb       NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE outbox_events;
