-- +goose NO TRANSACTION
-- +goose Up

-- A top-up is parked when Stripe reports its payment in another currency
-- than the top-up's: nothing is credited or debited for it automatically
-- any more, and an operator resolves it (services/wallet/README.md,
-- docs/operations.md). parked_at is set once, parked_reason says what
-- Stripe reported.
--
-- No transaction, so every statement is short or does not block writes:
-- the new CHECK is added NOT VALID (a brief lock, no scan) and validated
-- afterwards (a scan that lets writes go on); the index is built
-- CONCURRENTLY. Every statement can be repeated after a failed run.
ALTER TABLE topups DROP CONSTRAINT IF EXISTS topups_status_check;
ALTER TABLE topups ADD CONSTRAINT topups_status_check
    CHECK (status IN ('pending', 'paid', 'failed', 'expired', 'parked')) NOT VALID;
ALTER TABLE topups VALIDATE CONSTRAINT topups_status_check;
ALTER TABLE topups ADD COLUMN IF NOT EXISTS parked_at timestamptz;
ALTER TABLE topups ADD COLUMN IF NOT EXISTS parked_reason text NOT NULL DEFAULT '';
DROP INDEX CONCURRENTLY IF EXISTS topups_parked;
CREATE INDEX CONCURRENTLY topups_parked ON topups (parked_at DESC, id DESC) WHERE status = 'parked';

-- +goose Down
DROP INDEX CONCURRENTLY IF EXISTS topups_parked;
ALTER TABLE topups DROP COLUMN IF EXISTS parked_reason;
ALTER TABLE topups DROP COLUMN IF EXISTS parked_at;
-- A parked top-up cannot stay: it goes back to what it was before, as far
-- as the row tells (credited or not).
UPDATE topups SET status = CASE WHEN credited_at IS NULL THEN 'pending' ELSE 'paid' END WHERE status = 'parked';
ALTER TABLE topups DROP CONSTRAINT IF EXISTS topups_status_check;
ALTER TABLE topups ADD CONSTRAINT topups_status_check CHECK (status IN ('pending', 'paid', 'failed', 'expired'));
