-- +goose Up

-- One account per user, created on first credit. held_cents is the sum of
-- open holds; available = balance - held. balance_cents may go below zero
-- only through withdrawals and chargebacks (money that already left).
CREATE TABLE accounts (
    user_id       uuid PRIMARY KEY,
    balance_cents bigint NOT NULL DEFAULT 0,
    held_cents    bigint NOT NULL DEFAULT 0,
    currency      text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT accounts_held_nonnegative CHECK (held_cents >= 0)
);

-- The ledger: append-only, one row per balance change, written in the same
-- transaction as the change. source_key is an internal unique key per
-- business event (deposit:<topup>, fee:<hold>, withdrawal:<topup>:<cumulative>,
-- chargeback:<dispute>) so no event can be booked twice.
CREATE TABLE transactions (
    id                  uuid PRIMARY KEY,
    user_id             uuid NOT NULL REFERENCES accounts (user_id),
    kind                text NOT NULL,
    amount_cents        bigint NOT NULL,
    balance_after_cents bigint NOT NULL,
    description         text NOT NULL DEFAULT '',
    reference_type      text NOT NULL DEFAULT '',
    reference_id        text NOT NULL DEFAULT '',
    source_key          text,
    created_at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    CONSTRAINT transactions_kind CHECK (kind IN ('deposit', 'fee', 'withdrawal', 'chargeback', 'adjustment')),
    CONSTRAINT transactions_sign CHECK (
        (kind = 'deposit' AND amount_cents > 0)
        OR (kind IN ('fee', 'withdrawal', 'chargeback') AND amount_cents < 0)
        OR (kind = 'adjustment' AND amount_cents <> 0)
    )
);
CREATE UNIQUE INDEX transactions_source_key ON transactions (source_key) WHERE source_key IS NOT NULL;
CREATE INDEX transactions_user_page ON transactions (user_id, created_at DESC, id DESC);
CREATE INDEX transactions_user_kind_page ON transactions (user_id, kind, created_at DESC, id DESC);
CREATE INDEX transactions_page ON transactions (created_at DESC, id DESC);
CREATE INDEX transactions_kind_page ON transactions (kind, created_at DESC, id DESC);

-- +goose StatementBegin
CREATE FUNCTION transactions_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger rows are append-only: % refused', TG_OP USING ERRCODE = 'restrict_violation';
END
$$;
-- +goose StatementEnd
CREATE TRIGGER transactions_no_update_delete BEFORE UPDATE OR DELETE ON transactions
    FOR EACH ROW EXECUTE FUNCTION transactions_append_only();
CREATE TRIGGER transactions_no_truncate BEFORE TRUNCATE ON transactions
    FOR EACH STATEMENT EXECUTE FUNCTION transactions_append_only();

-- Holds reserve part of the available balance for a workflow run.
CREATE TABLE holds (
    id             uuid PRIMARY KEY,
    key            text NOT NULL UNIQUE,
    user_id        uuid NOT NULL REFERENCES accounts (user_id),
    amount_cents   bigint NOT NULL CHECK (amount_cents > 0),
    status         text NOT NULL CHECK (status IN ('held', 'captured', 'released')),
    expires_at     timestamptz NOT NULL,
    description    text NOT NULL DEFAULT '',
    reference_type text NOT NULL DEFAULT '',
    reference_id   text NOT NULL DEFAULT '',
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX holds_open_expiry ON holds (expires_at) WHERE status = 'held';
CREATE INDEX holds_open_user ON holds (user_id) WHERE status = 'held';

-- Top-ups: one Stripe Checkout Session each. credited_at is set once, in the
-- transaction that writes the deposit.
CREATE TABLE topups (
    id                    uuid PRIMARY KEY,
    user_id               uuid NOT NULL,
    amount_cents          bigint NOT NULL CHECK (amount_cents > 0),
    currency              text NOT NULL,
    status                text NOT NULL CHECK (status IN ('pending', 'paid', 'failed', 'expired')),
    checkout_session_id   text UNIQUE,
    checkout_url          text NOT NULL DEFAULT '',
    payment_intent_id     text UNIQUE,
    credited_cents        bigint NOT NULL DEFAULT 0,
    credited_at           timestamptz,
    -- The largest cumulative amount_refunded seen on the charge, all of it debited.
    amount_refunded_cents bigint NOT NULL DEFAULT 0,
    -- The sum of lost disputes, all of it debited.
    chargeback_cents      bigint NOT NULL DEFAULT 0,
    created_at            timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX topups_user_page ON topups (user_id, created_at DESC, id DESC);

-- One processing per Stripe event id.
CREATE TABLE stripe_events (
    event_id    text PRIMARY KEY,
    type        text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);

-- Idempotency-Key records, scoped per user and route ("topup", "adjustment").
CREATE TABLE idempotency_keys (
    user_id      uuid NOT NULL,
    scope        text NOT NULL,
    key          text NOT NULL,
    request_hash bytea NOT NULL,
    status       text NOT NULL CHECK (status IN ('processing', 'completed')),
    response     bytea,
    resource_id  uuid,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, scope, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- Admin actions on wallets, written in the same transaction as the change.
CREATE TABLE audit_events (
    id          uuid PRIMARY KEY,
    actor_id    uuid NOT NULL,
    action      text NOT NULL,
    target_type text NOT NULL,
    target_id   text NOT NULL,
    reason      text NOT NULL,
    before      jsonb NOT NULL,
    after       jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX audit_events_page ON audit_events (created_at DESC, id DESC);
CREATE INDEX audit_events_target_page ON audit_events (target_id, created_at DESC, id DESC);

-- +goose Down
DROP TABLE audit_events;
DROP TABLE idempotency_keys;
DROP TABLE stripe_events;
DROP TABLE topups;
DROP TABLE holds;
DROP TABLE transactions;
DROP FUNCTION transactions_append_only();
DROP TABLE accounts;
