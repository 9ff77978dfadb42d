// Package jobs holds what every service that runs River (the job queue in
// its own Postgres database) needs around it: the River client with what
// every service's has in common (client.go), the `migrate` command and
// the schema check of rolling deploys for the service's migrations and
// River's (setup.go), the start-up check that River's ran and the queue
// metrics (metrics.go). River itself is the queue; this package adds no
// queue of its own. See docs/adr/0016-jobs-setup.md.
package jobs

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/meterflow/meterflow/platform/database"
)

// Migrate applies River's own migrations (its job tables) to the database.
func Migrate(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m, err := rivermigrate.New(riverpgxv5.New(pool), &rivermigrate.Config{Logger: log})
	if err != nil {
		return fmt.Errorf("jobs: migrator: %w", err)
	}
	res, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil)
	if err != nil {
		return fmt.Errorf("jobs: migrate River's tables: %w", err)
	}
	for _, v := range res.Versions {
		log.InfoContext(ctx, "river migration applied", "version", v.Version, "name", v.Name)
	}
	return nil
}

// Ready reports whether River's tables exist, so a missing `migrate` is
// reported at start rather than at the first job. command names what the
// operator runs, e.g. "workflow migrate".
func Ready(ctx context.Context, pool *pgxpool.Pool, command string) error {
	var ok bool
	if err := pool.QueryRow(ctx, "SELECT to_regclass('river_job') IS NOT NULL").Scan(&ok); err != nil {
		return fmt.Errorf("jobs: check River's tables: %w", err)
	}
	if !ok {
		return fmt.Errorf("jobs: River's tables are missing: run `%s` first", command)
	}
	return nil
}

// CheckSchema compares River's migrations applied to the database at
// dbURL with those this build's River needs: nil when none is missing, a
// *database.SchemaBehindError naming command when some are.
func CheckSchema(ctx context.Context, dbURL, command string) error {
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		return fmt.Errorf("jobs: %w", err)
	}
	defer pool.Close()
	m, err := rivermigrate.New(riverpgxv5.New(pool), &rivermigrate.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return fmt.Errorf("jobs: migrator: %w", err)
	}
	applied, err := m.ExistingVersions(ctx)
	if err != nil {
		return fmt.Errorf("jobs: read River's schema version: %w", err)
	}
	var have, want int
	for _, v := range applied {
		have = max(have, v.Version)
	}
	for _, v := range m.AllVersions() {
		want = max(want, v.Version)
	}
	if have < want {
		return &database.SchemaBehindError{What: "River's ", Have: int64(have), Want: int64(want), Command: command}
	}
	return nil
}
