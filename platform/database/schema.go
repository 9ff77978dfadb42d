package database

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// SchemaBehindError says that a database's schema is older than the build
// needs: the process must not serve on it (a query for a column that does
// not exist yet fails, and a write that misses one loses data), and the
// fix is its `migrate` command.
type SchemaBehindError struct {
	// What names the schema when a process has several ("River's " for the
	// workflow's job queue); empty for the service's own.
	What string
	// Have is the newest migration applied to the database, Want the
	// newest one this build embeds.
	Have, Want int64
	// Command is what fixes it, e.g. "wallet migrate".
	Command string
}

func (e *SchemaBehindError) Error() string {
	return fmt.Sprintf("%sschema version %d, this build needs %d: run `%s`", e.What, e.Have, e.Want, e.Command)
}

// NewestMigration returns the version of the newest goose migration in
// migrations (files NNNNN_name.sql at its root).
func NewestMigration(migrations fs.FS) (int64, error) {
	entries, err := fs.ReadDir(migrations, ".")
	if err != nil {
		return 0, fmt.Errorf("database: list migrations: %w", err)
	}
	var newest int64
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		if e.IsDir() || !ok || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		v, err := strconv.ParseInt(num, 10, 64)
		if err != nil {
			continue
		}
		newest = max(newest, v)
	}
	if newest == 0 {
		return 0, errors.New("database: no migrations embedded")
	}
	return newest, nil
}

// Querier is what SchemaVersion reads with: a pool, a connection or a
// transaction.
type Querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// SchemaVersion returns the newest migration applied to the database:
// goose's highest recorded version, 0 for a database never migrated. It
// only reads (a check that created goose's table would write from a
// process that must not).
func SchemaVersion(ctx context.Context, q Querier) (int64, error) {
	var exists bool
	if err := q.QueryRow(ctx, "SELECT to_regclass('goose_db_version') IS NOT NULL").Scan(&exists); err != nil {
		return 0, fmt.Errorf("database: read the schema version: %w", err)
	}
	if !exists {
		return 0, nil
	}
	var v int64
	if err := q.QueryRow(ctx, "SELECT coalesce(max(version_id), 0) FROM goose_db_version").Scan(&v); err != nil {
		return 0, fmt.Errorf("database: read the schema version: %w", err)
	}
	return v, nil
}

// schemaCheckTimeout bounds one schema check: a process waiting for its
// schema repeats it, and a database that does not answer is reported.
const schemaCheckTimeout = 5 * time.Second

// CheckSchema compares the schema of the database at dbURL with the newest
// migration embedded in the build. It returns nil when the database is at
// that version or newer (a rollback's older build runs on a newer schema:
// migrations are expand/contract), a *SchemaBehindError naming command when
// it is older, and another error when it cannot tell (the database is
// unreachable).
func CheckSchema(ctx context.Context, dbURL string, migrations fs.FS, command string) error {
	want, err := NewestMigration(migrations)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, schemaCheckTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return fmt.Errorf("database: cannot reach %s to check its schema: %w", redact(dbURL), err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	have, err := SchemaVersion(ctx, conn)
	if err != nil {
		return err
	}
	if have < want {
		return &SchemaBehindError{Have: have, Want: want, Command: command}
	}
	return nil
}

// Behind splits the result of CheckSchema the way the process skeleton
// wants it (platform/process, Process.Schema): the reason the schema is
// behind, or the error that kept the check from telling.
func Behind(err error) (string, error) {
	var behind *SchemaBehindError
	if errors.As(err, &behind) {
		return behind.Error(), nil
	}
	return "", err
}
