package jobs

import (
	"context"
	"io/fs"
	"log/slog"

	"github.com/meterflow/meterflow/platform/database"
)

// Setup is a service's `migrate` command for a service that runs River:
// it creates the database at dbURL when it is missing, applies the
// service's migrations (goose files in migrations) and then River's.
func Setup(ctx context.Context, dbURL string, migrations fs.FS, log *slog.Logger) error {
	if err := database.Setup(ctx, dbURL, migrations, log); err != nil {
		return err
	}
	return MigrateDatabase(ctx, dbURL, log)
}

// MigrateDatabase applies River's migrations to the database at dbURL.
// Tests that make the database with dbtest.New call it next.
func MigrateDatabase(ctx context.Context, dbURL string, log *slog.Logger) error {
	pool, err := database.Open(ctx, dbURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	return Migrate(ctx, pool, log)
}

// SchemaCheck tells a service's serve whether the database at dbURL has
// the schema this build needs (platform/process, Process.Schema): the
// service's migrations and River's. It returns "" when both are current,
// the reason (naming command, what the operator runs) when one is older,
// and an error when it cannot tell.
func SchemaCheck(ctx context.Context, dbURL string, migrations fs.FS, command string) (string, error) {
	if behind, err := database.Behind(database.CheckSchema(ctx, dbURL, migrations, command)); behind != "" || err != nil {
		return behind, err
	}
	return database.Behind(CheckSchema(ctx, dbURL, command))
}
