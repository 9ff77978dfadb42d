package app_test

import (
	"context"
	"fmt"
	"regexp"
	"testing"

	"github.com/meterflow/meterflow/platform/database"
	"github.com/meterflow/meterflow/platform/database/dbtest"
	"github.com/meterflow/meterflow/services/workflow/app"
	"github.com/meterflow/meterflow/services/workflow/migrations"
)

// TestSchemaCheck: the service's schema one migration behind, or River's
// tables missing, are reported with the versions and the command that
// fixes both; a database with both current is not.
func TestSchemaCheck(t *testing.T) {
	t.Parallel()
	newest, err := database.NewestMigration(migrations.FS)
	if err != nil {
		t.Fatal(err)
	}
	_, old := dbtest.New(t, dbtest.UpTo(migrations.FS, newest-1))
	_, noRiver := dbtest.New(t, migrations.FS)
	_, cur := dbtest.New(t, migrations.FS)
	if err := app.MigrateQueue(context.Background(), cur, nil); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("schema version %d, this build needs %d: run `workflow migrate`", newest-1, newest)
	if behind, err := app.SchemaCheck(context.Background(), app.Config{DatabaseURL: old}); err != nil || behind != want {
		t.Errorf("old schema: %q, %v; want %q", behind, err, want)
	}
	river := regexp.MustCompile("^River's schema version 0, this build needs [1-9][0-9]*: run `workflow migrate`$")
	if behind, err := app.SchemaCheck(context.Background(), app.Config{DatabaseURL: noRiver}); err != nil || !river.MatchString(behind) {
		t.Errorf("without River's tables: %q, %v", behind, err)
	}
	if behind, err := app.SchemaCheck(context.Background(), app.Config{DatabaseURL: cur}); err != nil || behind != "" {
		t.Errorf("current schema: %q, %v", behind, err)
	}
}
