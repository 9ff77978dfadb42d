package app_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/meterflow/meterflow/platform/database"
	"github.com/meterflow/meterflow/platform/database/dbtest"
	"github.com/meterflow/meterflow/services/identity/app"
	"github.com/meterflow/meterflow/services/identity/migrations"
)

// TestSchemaCheck: a database one migration behind the build is reported
// with both versions and the command that fixes it; a current one is not.
func TestSchemaCheck(t *testing.T) {
	t.Parallel()
	newest, err := database.NewestMigration(migrations.FS)
	if err != nil {
		t.Fatal(err)
	}
	_, old := dbtest.New(t, dbtest.UpTo(migrations.FS, newest-1))
	_, cur := dbtest.New(t, migrations.FS)
	want := fmt.Sprintf("schema version %d, this build needs %d: run `identity migrate`", newest-1, newest)
	if behind, err := app.SchemaCheck(context.Background(), app.Config{DatabaseURL: old}); err != nil || behind != want {
		t.Errorf("old schema: %q, %v; want %q", behind, err, want)
	}
	if behind, err := app.SchemaCheck(context.Background(), app.Config{DatabaseURL: cur}); err != nil || behind != "" {
		t.Errorf("current schema: %q, %v", behind, err)
	}
}
