-- +goose NO TRANSACTION
-- +goose Up

-- Automatic top-ups are top-ups (origin 'auto'): the same row, the same
-- exactly-once credit (deposit:<topup id>), refunds and disputes. Each
-- names the crossing that queued it; failure_reason keeps Stripe's answer
-- when it failed. accounts.in_debt_since flags an account whose balance a
-- chargeback took below zero, until the balance is back at zero or above.
-- stripe_events.source tells a webhook delivery from a reconciliation.
--
-- No transaction, so every statement is short or does not block writes:
-- new columns with constant defaults change the catalog only; the CHECKs
-- are added NOT VALID and validated afterwards; indexes are built
-- CONCURRENTLY. Every statement can be repeated after a failed run.
ALTER TABLE topups ADD COLUMN IF NOT EXISTS origin text NOT NULL DEFAULT 'checkout';
ALTER TABLE topups DROP CONSTRAINT IF EXISTS topups_origin_check;
ALTER TABLE topups ADD CONSTRAINT topups_origin_check CHECK (origin IN ('checkout', 'auto')) NOT VALID;
ALTER TABLE topups VALIDATE CONSTRAINT topups_origin_check;
ALTER TABLE topups ADD COLUMN IF NOT EXISTS crossing_id uuid;
ALTER TABLE topups ADD COLUMN IF NOT EXISTS failure_reason text NOT NULL DEFAULT '';
DROP INDEX CONCURRENTLY IF EXISTS topups_crossing;
CREATE UNIQUE INDEX CONCURRENTLY topups_crossing ON topups (crossing_id) WHERE crossing_id IS NOT NULL;
DROP INDEX CONCURRENTLY IF EXISTS topups_auto_month;
CREATE INDEX CONCURRENTLY topups_auto_month ON topups (user_id, created_at) WHERE origin = 'auto';

ALTER TABLE accounts ADD COLUMN IF NOT EXISTS in_debt_since timestamptz;
DROP INDEX CONCURRENTLY IF EXISTS accounts_in_debt;
CREATE INDEX CONCURRENTLY accounts_in_debt ON accounts (in_debt_since DESC, user_id DESC) WHERE in_debt_since IS NOT NULL;

ALTER TABLE stripe_events ADD COLUMN IF NOT EXISTS source text NOT NULL DEFAULT 'webhook';

-- +goose Down
ALTER TABLE stripe_events DROP COLUMN IF EXISTS source;
DROP INDEX CONCURRENTLY IF EXISTS accounts_in_debt;
ALTER TABLE accounts DROP COLUMN IF EXISTS in_debt_since;
DROP INDEX CONCURRENTLY IF EXISTS topups_auto_month;
DROP INDEX CONCURRENTLY IF EXISTS topups_crossing;
ALTER TABLE topups DROP COLUMN IF EXISTS failure_reason;
ALTER TABLE topups DROP COLUMN IF EXISTS crossing_id;
ALTER TABLE topups DROP CONSTRAINT IF EXISTS topups_origin_check;
ALTER TABLE topups DROP COLUMN IF EXISTS origin;
