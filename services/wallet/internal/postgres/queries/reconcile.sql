-- name: InsertReconcileRun :exec
INSERT INTO reconcile_runs (id, since, events_seen, fixed, unmatched, started_at)
VALUES (@id, @since, @events_seen, @fixed, @unmatched, @started_at);

-- name: ReconcileTotals :one
-- For the metrics: every fix so far, and the last run.
SELECT COALESCE(sum(fixed), 0)::bigint AS fixed,
       COALESCE((SELECT r.unmatched FROM reconcile_runs r ORDER BY r.finished_at DESC LIMIT 1), 0)::bigint AS last_unmatched,
       COALESCE(max(finished_at), 'epoch'::timestamptz)::timestamptz AS last_finished_at
FROM reconcile_runs;

-- name: AutomationGauges :one
SELECT (SELECT count(*) FROM accounts WHERE in_debt_since IS NOT NULL)::bigint AS accounts_in_debt,
       (SELECT count(*) FROM disputes WHERE status = 'open')::bigint AS open_disputes,
       (SELECT COALESCE(sum(held_cents), 0) FROM disputes WHERE status = 'open')::bigint AS open_dispute_cents;
