package dbtest

import (
	"context"
	"fmt"
	"io/fs"
	"testing"

	"github.com/meterflow/meterflow/platform/database"
)

// ExpectSchemaChecks checks a service's schema check (its app.SchemaCheck,
// given the database's URL): a database one migration behind the build's
// newest is reported with both versions and command; a current one, once
// prepare has run on it (River's migrations for the workflow; nil for
// none), is not.
func ExpectSchemaChecks(t testing.TB, migrations fs.FS, command string, check func(ctx context.Context, dbURL string) (string, error), prepare func(dbURL string) error) {
	t.Helper()
	newest, err := database.NewestMigration(migrations)
	if err != nil {
		t.Fatal(err)
	}
	// The migration before the newest (0: none): numbers may have gaps
	// (numbers reserved for changes still on their branches).
	var previous int64
	if older := UpTo(migrations, newest-1); older != nil {
		if previous, err = database.NewestMigration(older); err != nil {
			t.Fatal(err)
		}
	}
	_, old := New(t, UpTo(migrations, previous))
	_, cur := New(t, migrations)
	for _, url := range []string{old, cur} {
		if prepare != nil {
			if err := prepare(url); err != nil {
				t.Fatal(err)
			}
		}
	}
	want := fmt.Sprintf("schema version %d, this build needs %d: run `%s`", previous, newest, command)
	if behind, err := check(context.Background(), old); err != nil || behind != want {
		t.Errorf("a schema one migration behind: %q, %v; want %q", behind, err, want)
	}
	if behind, err := check(context.Background(), cur); err != nil || behind != "" {
		t.Errorf("the current schema: %q, %v; want nothing", behind, err)
	}
}
