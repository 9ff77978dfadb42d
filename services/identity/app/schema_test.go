package app_test

import (
	"context"
	"regexp"
	"testing"

	"github.com/meterflow/meterflow/platform/database/dbtest"
	"github.com/meterflow/meterflow/services/identity/app"
	"github.com/meterflow/meterflow/services/identity/migrations"
)

// TestSchemaCheck: a database one migration behind the build, or without
// River's tables (the email outbox), is reported with the versions and
// the command that fixes it; a current one is not.
func TestSchemaCheck(t *testing.T) {
	t.Parallel()
	check := func(ctx context.Context, url string) (string, error) {
		return app.SchemaCheck(ctx, app.Config{DatabaseURL: url})
	}
	dbtest.ExpectSchemaChecks(t, migrations.FS, "identity migrate", check, func(url string) error {
		return app.MigrateJobs(context.Background(), url, nil)
	})
	_, noRiver := dbtest.New(t, migrations.FS)
	river := regexp.MustCompile("^River's schema version 0, this build needs [1-9][0-9]*: run `identity migrate`$")
	if behind, err := check(context.Background(), noRiver); err != nil || !river.MatchString(behind) {
		t.Errorf("without River's tables: %q, %v", behind, err)
	}
}
