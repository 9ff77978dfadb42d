-- +goose Up

-- The API key a run was started with (issue 15); NULL for a run started
-- with a login's access token. Nullable without a default: adding it
-- changes only the catalog, whatever the table's size. No index: runs are
-- listed by user, workflow and time, and a key's runs are a user's runs.
ALTER TABLE runs ADD COLUMN api_key_id uuid;

-- +goose Down
ALTER TABLE runs DROP COLUMN api_key_id;
