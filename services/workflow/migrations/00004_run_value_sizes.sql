-- +goose Up

-- The size of a run's input and output as stored (the length of jsonb's
-- text), written with the value. Lists of runs leave a value over
-- workflow.MaxListValueBytes out and must know its size without reading it:
-- a large jsonb lives compressed in TOAST, and rendering it only to measure
-- it would cost as much as sending it.
--
-- Nullable without a default: adding the columns changes only the catalog,
-- whatever the table's size. Runs stored before this migration have NULL
-- here; the list query measures those (octet_length(input::text)) instead.
ALTER TABLE runs ADD COLUMN input_bytes integer, ADD COLUMN output_bytes integer;

-- +goose Down
ALTER TABLE runs DROP COLUMN input_bytes, DROP COLUMN output_bytes;
