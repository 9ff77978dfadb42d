package app_test

import (
	"context"
	"regexp"
	"testing"

	"github.com/meterflow/meterflow/platform/database/dbtest"
	"github.com/meterflow/meterflow/services/notify/app"
	"github.com/meterflow/meterflow/services/notify/migrations"
)

// TestSchemaCheck: the service's schema behind, or River's tables
// missing, are reported with the command that fixes both; a database with
// both current is not.
func TestSchemaCheck(t *testing.T) {
	t.Parallel()
	check := func(ctx context.Context, url string) (string, error) {
		return app.SchemaCheck(ctx, app.Config{DatabaseURL: url})
	}
	dbtest.ExpectSchemaChecks(t, migrations.FS, "notify migrate", check, func(url string) error {
		return app.MigrateQueue(context.Background(), url, nil)
	})
	_, noRiver := dbtest.New(t, migrations.FS)
	river := regexp.MustCompile("^River's schema version 0, this build needs [1-9][0-9]*: run `notify migrate`$")
	if behind, err := check(context.Background(), noRiver); err != nil || !river.MatchString(behind) {
		t.Errorf("without River's tables: %q, %v", behind, err)
	}
}
