package database

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// MigrationLockTimeout is how long a migration waits for a table lock
// before it gives up. ALTER TABLE waits for every transaction using the
// table and, while it waits, every later query of the live release queues
// behind it: a migration stuck behind one long transaction would stall the
// whole service. Giving up after a few seconds and trying again costs the
// migration a little time instead. PGOPTIONS (e.g. "-c lock_timeout=10s")
// or a lock_timeout in DATABASE_URL overrides it.
const MigrationLockTimeout = 10 * time.Second

// No statement_timeout is set for migrations: some legitimately run for
// minutes on a large table (CREATE INDEX CONCURRENTLY, a validating scan),
// and cutting one halfway leaves an invalid index to clean up. Bounding
// the waits for locks is what protects the live release; a migration whose
// statements are short may SET LOCAL statement_timeout itself.

// Retries of a migration that hit its lock timeout: backoff doubling from
// the first delay to the cap, for at most migrationAttempts attempts in
// all (about five minutes of trying, inside the Deployment's progress
// deadline). Each attempt applies what it can: goose runs each migration
// in its own transaction, so an attempt that fails on the third migration
// keeps the first two.
const (
	migrationAttempts   = 10
	migrationRetryFirst = time.Second
	migrationRetryMax   = time.Minute
)

// setMigrationTimeouts sets lock_timeout on every session of cfg unless
// the URL or PGOPTIONS already chose one.
func setMigrationTimeouts(cfg *pgx.ConnConfig) {
	if _, ok := cfg.RuntimeParams["lock_timeout"]; ok || strings.Contains(cfg.RuntimeParams["options"], "lock_timeout") {
		return
	}
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	cfg.RuntimeParams["lock_timeout"] = fmt.Sprintf("%dms", MigrationLockTimeout.Milliseconds())
}

// lockTimedOut reports whether err is Postgres giving up on a lock
// (SQLSTATE 55P03, lock_not_available).
func lockTimedOut(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "55P03"
}

// migrateWithRetry runs migrate until it succeeds, fails for another
// reason than a lock timeout, or has been tried migrationAttempts times.
func migrateWithRetry(ctx context.Context, log *slog.Logger, migrate func() error) error {
	delay := migrationRetryFirst
	for attempt := 1; ; attempt++ {
		err := migrate()
		if err == nil || !lockTimedOut(err) {
			return err
		}
		if attempt == migrationAttempts {
			return fmt.Errorf("%w (gave up after %d attempts: a long transaction holds a lock the migration needs; see docs/runbooks/migration-failing.md)", err, attempt)
		}
		if log != nil {
			log.WarnContext(ctx, "migration gave up waiting for a lock; trying again", "attempt", attempt, "retry_in", delay.String(), "err", err)
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(delay):
		}
		delay = min(2*delay, migrationRetryMax)
	}
}
