-- name: GetSettings :one
SELECT * FROM wallet_settings WHERE user_id = $1;

-- name: EnsureSettings :exec
INSERT INTO wallet_settings (user_id, auto_topup_threshold_cents, auto_topup_amount_cents)
VALUES (@user_id, @auto_topup_threshold_cents, @auto_topup_amount_cents)
ON CONFLICT (user_id) DO NOTHING;

-- name: LockSettings :one
-- Locks the user's settings until the transaction ends. Lock order: the
-- account (a capture, a credit) before the settings, never the other way.
SELECT * FROM wallet_settings WHERE user_id = $1 FOR UPDATE;

-- name: WriteSettings :one
-- Writes what the wallet package decided; the Stripe Customer and the
-- monthly cap are not written here.
UPDATE wallet_settings
SET low_balance_threshold_cents = sqlc.narg(low_balance_threshold_cents), low_balance_armed = @low_balance_armed,
    auto_topup_enabled = @auto_topup_enabled, auto_topup_threshold_cents = @auto_topup_threshold_cents,
    auto_topup_amount_cents = @auto_topup_amount_cents, auto_topup_armed = @auto_topup_armed,
    auto_topup_failures = @auto_topup_failures, auto_topup_last_error = sqlc.narg(auto_topup_last_error),
    payment_method_id = sqlc.narg(payment_method_id), card_brand = @card_brand, card_last4 = @card_last4,
    card_exp_month = @card_exp_month, card_exp_year = @card_exp_year,
    payment_method_set_at = sqlc.narg(payment_method_set_at), updated_at = now()
WHERE user_id = @user_id
RETURNING *;

-- name: SetCustomer :one
-- The first Customer stored wins: concurrent first setups agree on it
-- (they asked Stripe with one idempotency key anyway).
UPDATE wallet_settings
SET stripe_customer_id = COALESCE(stripe_customer_id, @customer_id::text), updated_at = now()
WHERE user_id = @user_id
RETURNING *;

-- name: ClearPaymentMethod :one
-- Forgets the saved card and switches auto top-up off; returns the
-- PaymentMethod that was saved (NULL when none).
WITH old AS (
    SELECT w.user_id, w.payment_method_id FROM wallet_settings w WHERE w.user_id = @user_id::uuid FOR UPDATE
)
UPDATE wallet_settings s
SET payment_method_id = NULL, card_brand = '', card_last4 = '', card_exp_month = 0, card_exp_year = 0,
    payment_method_set_at = NULL, auto_topup_enabled = false, updated_at = now()
FROM old
WHERE s.user_id = old.user_id
RETURNING old.payment_method_id;
