-- name: APIKeySpend :many
-- The user's keys' spend in one month; keys that spent nothing have no row.
SELECT api_key_id, spent_cents FROM api_key_month_spend
WHERE user_id = @user_id AND month = @month AND api_key_id = ANY(@api_key_ids::uuid[]);
