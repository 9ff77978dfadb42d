// Package seed bulk-loads history for the growth scenario, straight into the
// bench's wallet and workflow databases with INSERT … SELECT generate_series.
// It is the only place the harness writes service tables, and it keeps the
// wallet's invariant: the account's balance equals the sum of its ledger,
// each row's balance_after_cents is the running sum, and no hold is open.
package seed

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Ledger gives user a new account whose history is n adjustments of +1
// cent, spaced 100 ms apart and ending a minute ago, and balance n. It must
// run before anything else credits the user (the account must not exist yet).
func Ledger(ctx context.Context, walletURL, userID string, n int) error {
	conn, err := pgx.Connect(ctx, walletURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO accounts (user_id, balance_cents, held_cents, currency, created_at)
VALUES ($1, $2::bigint, 0, 'usd', now() - interval '1 minute' - make_interval(secs => $2::bigint::float8 / 10 + 1))`, userID, int64(n)); err != nil {
			return fmt.Errorf("seed account: %w", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO transactions
    (id, user_id, kind, amount_cents, balance_after_cents, description, reference_type, reference_id, source_key, created_at)
SELECT gen_random_uuid(), $1, 'adjustment', 1, g, 'bench seed', '', '', NULL,
       now() - interval '1 minute' - make_interval(secs => ($2::bigint - g)::float8 / 10)
FROM generate_series(1::bigint, $2::bigint) AS g`, userID, int64(n)); err != nil {
			return fmt.Errorf("seed ledger: %w", err)
		}
		return nil
	})
}

// Runs gives user n finished runs of slug: failed answers (500 from n8n),
// nothing charged and the hold released, so they need no ledger row and
// the two services stay consistent.
func Runs(ctx context.Context, workflowURL, userID, slug string, n int) error {
	conn, err := pgx.Connect(ctx, workflowURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `INSERT INTO runs
    (id, user_id, workflow_slug, status, hold_state, async, fee_cents, charged_cents, timeout_ms,
     input, output, http_status, error, idempotency_key, request_hash,
     created_at, started_at, finished_at, deadline_at, updated_at)
SELECT gen_random_uuid(), $1, $2, 'failed', 'released', false, 1, 0, 5000,
       '{"seed": true}'::jsonb, NULL, 500, 'n8n answered 500', NULL, '\x00'::bytea,
       ts, ts, ts + interval '5 milliseconds', ts + interval '6 seconds', ts
FROM (SELECT now() - interval '1 minute' - make_interval(secs => ($3::bigint - g)::float8 / 10) AS ts
      FROM generate_series(1::bigint, $3::bigint) AS g) AS s`, userID, slug, int64(n))
	if err != nil {
		return fmt.Errorf("seed runs: %w", err)
	}
	return nil
}

// Settle brings tables to the state a production database reaches shortly
// after a bulk load, before anything is measured: VACUUM (ANALYZE) does what
// autovacuum would soon do on its own (statistics, hint bits, visibility
// map), and a CHECKPOINT writes the load's dirty pages out. Otherwise that
// work lands inside the first measured phases and times the bulk load, not
// the queries.
func Settle(ctx context.Context, url string, tables ...string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	for _, t := range tables {
		if _, err := conn.Exec(ctx, "VACUUM (ANALYZE) "+pgx.Identifier{t}.Sanitize()); err != nil {
			return err
		}
	}
	if _, err := conn.Exec(ctx, "CHECKPOINT"); err != nil {
		return fmt.Errorf("checkpoint (the bench's database user must be a superuser or have pg_checkpoint): %w", err)
	}
	return nil
}

// Count returns the number of rows of table (for the report).
func Count(ctx context.Context, url, table string) (int64, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return 0, err
	}
	defer conn.Close(ctx)
	var n int64
	err = conn.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{table}.Sanitize()).Scan(&n)
	return n, err
}

// Argon2Params reads the parameters of a stored password hash (the PHC
// string's "m=…,t=…,p=…"), the ground truth of what a login costs.
func Argon2Params(ctx context.Context, identityURL, email string) (string, error) {
	conn, err := pgx.Connect(ctx, identityURL)
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	var h string
	if err := conn.QueryRow(ctx, `SELECT password_hash FROM users WHERE lower(email) = lower($1)`, email).Scan(&h); err != nil {
		return "", err
	}
	// $argon2id$v=19$m=19456,t=2,p=1$salt$hash
	var v, m, t, p int
	if _, err := fmt.Sscanf(h, "$argon2id$v=%d$m=%d,t=%d,p=%d$", &v, &m, &t, &p); err != nil {
		return "", fmt.Errorf("unexpected hash format: %w", err)
	}
	return fmt.Sprintf("argon2id v=%d, memory %d KiB, %d iterations, parallelism %d", v, m, t, p), nil
}
