-- +goose Up

-- A run is updated three or four times on its way to settlement (held and
-- running, success or failure recorded, captured or released). The
-- settler's partial index used to name hold_state in its predicate, so
-- every one of those updates changed an indexed column and wrote a new
-- entry into all seven indexes of runs. The predicate now reads a stored
-- flag that changes once, at settlement: the updates before it can be HOT
-- (heap-only, no index writes) when the page has room, which fillfactor 70
-- leaves for them.
--
-- On an existing installation ADD COLUMN … STORED rewrites the table under
-- an exclusive lock: run it in a maintenance window when runs is large.
ALTER TABLE runs ADD COLUMN unsettled boolean NOT NULL
    GENERATED ALWAYS AS (hold_state IN ('pending', 'held', 'capturing', 'releasing')) STORED;
DROP INDEX runs_unsettled_deadline;
CREATE INDEX runs_unsettled_deadline ON runs (deadline_at) WHERE unsettled;
ALTER TABLE runs SET (fillfactor = 70);

-- +goose Down
DROP INDEX runs_unsettled_deadline;
ALTER TABLE runs RESET (fillfactor);
ALTER TABLE runs DROP COLUMN unsettled;
CREATE INDEX runs_unsettled_deadline ON runs (deadline_at) WHERE hold_state IN ('pending', 'held', 'capturing', 'releasing');
