// Package dbtest gives each test its own freshly migrated Postgres database.
package dbtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io/fs"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/meterflow/meterflow/platform/database"
)

// AdminURL is the server the test databases are created on: TEST_DATABASE_URL,
// or the local trust-auth Postgres.
func AdminURL() string {
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

func adminConfig(t testing.TB) *pgx.ConnConfig {
	t.Helper()
	cfg, err := pgx.ParseConfig(AdminURL())
	if err != nil {
		t.Fatalf("dbtest: TEST_DATABASE_URL: %v", err)
	}
	return cfg
}

// Unused returns a unique database name and its URL on AdminURL's server,
// without creating it (a test of what creates a missing database, such as
// a `migrate` command, does); the database is dropped when the test ends,
// whoever created it.
func Unused(t testing.TB) (name, url string) {
	t.Helper()
	cfg := adminConfig(t)
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	name = "mftest_" + hex.EncodeToString(b)
	url, err := database.WithName(AdminURL(), name)
	if err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	t.Cleanup(func() {
		c, err := pgx.ConnectConfig(context.Background(), cfg)
		if err != nil {
			t.Errorf("dbtest: drop %s: %v", name, err)
			return
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("dbtest: drop %s: %v", name, err)
		}
	})
	return name, url
}

// New creates a uniquely named database, applies migrations (none when
// migrations is nil: an empty database, as before the first `migrate`) and
// returns a pool and the database's URL; the database is dropped when the
// test ends.
func New(t testing.TB, migrations fs.FS) (*pgxpool.Pool, string) {
	t.Helper()
	ctx := context.Background()
	cfg := adminConfig(t)
	name, url := Unused(t)
	admin, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("dbtest: cannot reach Postgres at %s:%d (set TEST_DATABASE_URL): %v", cfg.Host, cfg.Port, err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("dbtest: create database: %v", err)
	}
	if migrations != nil {
		if err := database.Migrate(ctx, url, migrations, nil); err != nil {
			t.Fatalf("dbtest: %v", err)
		}
	}
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatalf("dbtest: open pool: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool, url
}
