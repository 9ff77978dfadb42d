-- +goose Up

-- Wallet automation (issue 19; docs/adr/0008-wallet-automation.md): the
-- user's settings and saved card, the balance crossings that captures
-- decide, dispute holds and the reconciliation runs. New tables only:
-- nothing here locks or scans an existing table.

-- One row per user who saved a card or changed a setting; a user without
-- a row has the defaults (no low-balance threshold, auto top-up off).
CREATE TABLE wallet_settings (
    user_id                      uuid PRIMARY KEY,
    -- NULL: no low-balance email.
    low_balance_threshold_cents  bigint CHECK (low_balance_threshold_cents >= 0),
    -- Armed: the balance was at or above the threshold the last time it was
    -- looked at. A capture that finds the available balance below it while
    -- armed records one crossing and disarms; a credit that takes it back to
    -- the threshold or above arms it again.
    low_balance_armed            boolean NOT NULL DEFAULT true,
    auto_topup_enabled           boolean NOT NULL DEFAULT false,
    auto_topup_threshold_cents   bigint NOT NULL CHECK (auto_topup_threshold_cents >= 0),
    auto_topup_amount_cents      bigint NOT NULL CHECK (auto_topup_amount_cents > 0),
    auto_topup_armed             boolean NOT NULL DEFAULT true,
    -- NULL: AUTO_TOPUP_MONTHLY_CAP_MULTIPLE × the amount.
    auto_topup_monthly_cap_cents bigint CHECK (auto_topup_monthly_cap_cents > 0),
    -- Failed automatic charges in a row; the third switches auto top-up off.
    auto_topup_failures          integer NOT NULL DEFAULT 0 CHECK (auto_topup_failures >= 0),
    auto_topup_last_error        text,
    -- The wallet's Stripe Customer (created on the first card setup) and
    -- the saved card: only what the user is shown, never card numbers.
    stripe_customer_id           text UNIQUE,
    payment_method_id            text,
    card_brand                   text NOT NULL DEFAULT '',
    card_last4                   text NOT NULL DEFAULT '',
    card_exp_month               integer NOT NULL DEFAULT 0,
    card_exp_year                integer NOT NULL DEFAULT 0,
    -- When Stripe created the setup session whose card is saved: an older
    -- session's late event never replaces a newer card.
    payment_method_set_at        timestamptz,
    created_at                   timestamptz NOT NULL DEFAULT now(),
    updated_at                   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX wallet_settings_customer ON wallet_settings (stripe_customer_id) WHERE stripe_customer_id IS NOT NULL;

-- A balance crossing, decided in the transaction of the capture that
-- crossed (ADR 0008). One per kind and capturing hold; the settings row's
-- lock and armed flag make it one per crossing, however many captures cross
-- at once. announced_at is for the outgoing webhooks (wallet.low_balance):
-- NULL until an event was emitted for the crossing.
CREATE TABLE balance_crossings (
    id              uuid PRIMARY KEY,
    user_id         uuid NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('low_balance', 'auto_topup')),
    hold_id         uuid NOT NULL,
    threshold_cents bigint NOT NULL,
    available_cents bigint NOT NULL,
    -- auto_topup: charge (a top-up was queued) or capped (the month's cap
    -- left no room: nothing charged).
    outcome         text NOT NULL CHECK (outcome IN ('notified', 'charge', 'capped')),
    topup_id        uuid UNIQUE,
    announced_at    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (kind, hold_id)
);
CREATE INDEX balance_crossings_user ON balance_crossings (user_id, created_at DESC, id DESC);
CREATE INDEX balance_crossings_unannounced ON balance_crossings (created_at) WHERE kind = 'low_balance' AND announced_at IS NULL;

-- Disputes of our payments. An open one holds its amount (held_cents, a
-- part of the account's held_cents, not a row of holds): the available
-- balance drops, the balance does not. Won releases it; lost releases it
-- and books the chargeback, once, whatever the order of Stripe's events.
CREATE TABLE disputes (
    id                uuid PRIMARY KEY,
    -- Stripe's dispute id (dp_...).
    dispute_id        text NOT NULL UNIQUE,
    user_id           uuid NOT NULL,
    topup_id          uuid NOT NULL,
    payment_intent_id text NOT NULL,
    amount_cents      bigint NOT NULL CHECK (amount_cents > 0),
    currency          text NOT NULL,
    status            text NOT NULL CHECK (status IN ('open', 'won', 'lost')),
    held_cents        bigint NOT NULL DEFAULT 0 CHECK (held_cents >= 0),
    closed_at         timestamptz,
    created_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CHECK ((status = 'open') = (closed_at IS NULL)),
    CHECK (status = 'open' OR held_cents = 0)
);
CREATE INDEX disputes_open ON disputes (created_at DESC, id DESC) WHERE status = 'open';
CREATE INDEX disputes_user ON disputes (user_id, created_at DESC, id DESC);

-- One row per `wallet reconcile`: what it saw, fixed and could not match.
-- The serving wallet exports the totals (wallet_reconcile_*), since the
-- CronJob's own process is gone before any scrape.
CREATE TABLE reconcile_runs (
    id          uuid PRIMARY KEY,
    since       timestamptz NOT NULL,
    events_seen integer NOT NULL,
    fixed       integer NOT NULL,
    unmatched   integer NOT NULL,
    started_at  timestamptz NOT NULL,
    finished_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX reconcile_runs_finished ON reconcile_runs (finished_at DESC);

-- +goose Down
DROP TABLE reconcile_runs;
DROP TABLE disputes;
DROP TABLE balance_crossings;
DROP TABLE wallet_settings;
