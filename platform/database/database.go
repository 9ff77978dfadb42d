// Package database opens, creates and migrates a service's own Postgres database.
package database

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/exaring/otelpgx"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/meterflow/meterflow/platform/database/outage"
	"github.com/meterflow/meterflow/platform/telemetry"
)

// DefaultMaxConns is the pool size when neither DATABASE_POOL_MAX_CONNS
// nor pool_max_conns in DATABASE_URL sets one. pgxpool's own default (4 on
// a 2-core machine) queued paid runs behind a few connections that mostly
// wait for WAL flushes; 16 lets commits share flushes (group commit). A
// deployment sizes its pools from each database's connection budget
// (docs/operations.md, "Postgres connections"): replicas × pool per server.
const DefaultMaxConns = 16

// Open returns a traced pool for url and checks that the server answers.
// Its size is DATABASE_POOL_MAX_CONNS, else pool_max_conns in url, else
// DefaultMaxConns (see MaxConns). Query spans carry the SQL text but never
// argument values. Open it after telemetry.SetupTracing (see queryTracer).
func Open(ctx context.Context, url string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("database: parse DATABASE_URL: %w", err)
	}
	if cfg.MaxConns, err = MaxConns(url); err != nil {
		return nil, err
	}
	if cfg.MinConns > cfg.MaxConns {
		cfg.MinConns = cfg.MaxConns
	}
	cfg.AfterConnect = func(_ context.Context, c *pgx.Conn) error {
		RegisterUUID(c.TypeMap())
		return nil
	}
	cfg.ConnConfig.Tracer = queryTracer()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("database: open pool: %w", err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := pool.Ping(pingCtx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("database: cannot reach %s (is Postgres running, and did `migrate` create the database?): %w", redact(url), err)
	}
	return pool, nil
}

// queryTracer is the pool's pgx tracer: otelpgx's query spans when the
// process records spans; none when it records none
// (telemetry.SpansUnrecorded), where otelpgx still timed every query into
// a context value and an OTel histogram for no one (ADR 0023). Its OTel
// metrics are off either way: no process installs an OTel MeterProvider
// (the pool's metrics are Prometheus's, RegisterPoolMetrics).
func queryTracer() pgx.QueryTracer {
	if telemetry.SpansUnrecorded() {
		return nil
	}
	return otelpgx.NewTracer(otelpgx.WithDisableQuerySpanNamePrefix(), otelpgx.WithDisableAcquireTracer(),
		otelpgx.WithMeterProvider(noop.NewMeterProvider()))
}

// EnsureDatabase creates the database named in url if it does not exist,
// connecting to the server's "postgres" database to do so.
func EnsureDatabase(ctx context.Context, dbURL string) error {
	cfg, err := pgx.ParseConfig(dbURL)
	if err != nil {
		return fmt.Errorf("database: parse DATABASE_URL: %w", err)
	}
	name := cfg.Database
	cfg.Database = "postgres"
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("database: cannot reach Postgres at %s:%d (start it, or set DATABASE_URL): %w", cfg.Host, cfg.Port, err)
	}
	defer conn.Close(context.Background())
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return fmt.Errorf("database: look up %q: %w", name, err)
	}
	if exists {
		return nil
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P04" { // created concurrently
		return nil
	}
	if err != nil {
		return fmt.Errorf("database: create %q: %w", name, err)
	}
	return nil
}

// Migrate applies every pending migration in migrations (goose files
// NNNNN_name.sql at its root), holding a Postgres advisory lock so replicas
// starting together migrate once. Its sessions wait at most
// MigrationLockTimeout for a table lock, and a migration that gives up is
// tried again (see migrateWithRetry).
func Migrate(ctx context.Context, dbURL string, migrations fs.FS, log *slog.Logger) error {
	cfg, err := pgx.ParseConfig(dbURL)
	if err != nil {
		return fmt.Errorf("database: parse DATABASE_URL: %w", err)
	}
	setMigrationTimeouts(cfg)
	db := stdlib.OpenDB(*cfg)
	defer db.Close()
	return migrateWithRetry(ctx, log, func() error { return migrateDB(ctx, db, migrations, log) })
}

// Setup creates the database at dbURL if it is missing and applies
// migrations: what every service's `migrate` command does.
func Setup(ctx context.Context, dbURL string, migrations fs.FS, log *slog.Logger) error {
	if dbURL == "" {
		return errors.New("DATABASE_URL is empty")
	}
	if err := EnsureDatabase(ctx, dbURL); err != nil {
		return err
	}
	return Migrate(ctx, dbURL, migrations, log)
}

func migrateDB(ctx context.Context, db *sql.DB, migrations fs.FS, log *slog.Logger) error {
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return fmt.Errorf("database: migration lock: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, migrations, goose.WithSessionLocker(locker))
	if err != nil {
		return fmt.Errorf("database: load migrations: %w", err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("database: migrate: %w", err)
	}
	if log != nil {
		for _, r := range results {
			log.InfoContext(ctx, "migration applied", "version", r.Source.Version, "file", r.Source.Path, "duration", r.Duration.String())
		}
	}
	return nil
}

// redact hides the password of a connection URL for messages.
func redact(dbURL string) string {
	u, err := url.Parse(dbURL)
	if err != nil || u.User == nil {
		if i := strings.Index(dbURL, "@"); i >= 0 {
			return "postgres://…" + dbURL[i:]
		}
		return dbURL
	}
	return u.Redacted()
}

// WithName returns the connection URL dbURL pointing at database name instead.
func WithName(dbURL, name string) (string, error) {
	u, err := url.Parse(dbURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", fmt.Errorf("database: %s is not a postgres:// URL", redact(dbURL))
	}
	u.Path = "/" + name
	return u.String(), nil
}

// Unreachable reports whether err is a failure to reach the database rather
// than a bug (outage.Unreachable).
func Unreachable(err error) bool { return outage.Unreachable(err) }
