-- +goose Up

-- Verified run outcomes (issue 18, docs/adr/0007): a workflow in callback
-- mode answers the call with a receipt only, and the run waits, its fee
-- held, for the verdict the workflow posts to a per-run callback URL.

-- The workflow's mode, how long its runs wait for a verdict, and the
-- Standard Webhooks signing secret of its calls (sealed like the auth
-- header value; never returned).
ALTER TABLE workflows
    ADD COLUMN completion text NOT NULL DEFAULT 'response' CHECK (completion IN ('response', 'callback')),
    ADD COLUMN callback_timeout_ms bigint NOT NULL DEFAULT 900000 CHECK (callback_timeout_ms BETWEEN 1000 AND 86400000),
    ADD COLUMN signing_secret_enc bytea;

-- A run keeps the mode it was started in (like its fee and timeout), the
-- SHA-256 of its callback token (the token itself is never stored) and,
-- for an async run, the verdict window measured from the call.
ALTER TABLE runs
    ADD COLUMN completion text NOT NULL DEFAULT 'response' CHECK (completion IN ('response', 'callback')),
    ADD COLUMN callback_token_hash bytea,
    ADD COLUMN callback_timeout_ms bigint;

-- A new hold state: "awaiting", n8n acknowledged the call and the fee
-- stays held until the verdict (running/awaiting, machine.go).
ALTER TABLE runs DROP CONSTRAINT runs_hold_state_check;
ALTER TABLE runs ADD CONSTRAINT runs_hold_state_check
    CHECK (hold_state IN ('pending', 'none', 'held', 'awaiting', 'capturing', 'releasing', 'captured', 'released'));

-- unsettled must count the new state open. Postgres 15 cannot change a
-- generated column's expression, so the column is made again, now from
-- the final states (none, captured, released): an open state added later
-- needs no rewrite. Dropping the column drops the settler's index on it.
-- Like migration 00002, this rewrites runs under an exclusive lock: run it
-- in a maintenance window when runs is large.
ALTER TABLE runs DROP COLUMN unsettled;
ALTER TABLE runs ADD COLUMN unsettled boolean NOT NULL
    GENERATED ALWAYS AS (hold_state NOT IN ('none', 'captured', 'released')) STORED;
CREATE INDEX runs_unsettled_deadline ON runs (deadline_at) WHERE unsettled;

-- The runs waiting for a verdict, for the operators' list: few rows (only
-- callback runs in flight), so a small partial index.
CREATE INDEX runs_callback_running ON runs (created_at DESC, id DESC)
    WHERE completion = 'callback' AND status = 'running';

-- +goose Down
DROP INDEX runs_callback_running;
UPDATE runs SET hold_state = 'held' WHERE hold_state = 'awaiting';
ALTER TABLE runs DROP COLUMN unsettled;
ALTER TABLE runs ADD COLUMN unsettled boolean NOT NULL
    GENERATED ALWAYS AS (hold_state IN ('pending', 'held', 'capturing', 'releasing')) STORED;
CREATE INDEX runs_unsettled_deadline ON runs (deadline_at) WHERE unsettled;
ALTER TABLE runs DROP CONSTRAINT runs_hold_state_check;
ALTER TABLE runs ADD CONSTRAINT runs_hold_state_check
    CHECK (hold_state IN ('pending', 'none', 'held', 'capturing', 'releasing', 'captured', 'released'));
ALTER TABLE runs DROP COLUMN completion, DROP COLUMN callback_token_hash, DROP COLUMN callback_timeout_ms;
ALTER TABLE workflows DROP COLUMN completion, DROP COLUMN callback_timeout_ms, DROP COLUMN signing_secret_enc;
