package app_test

import (
	"context"
	"testing"

	"github.com/meterflow/meterflow/platform/database/dbtest"
	"github.com/meterflow/meterflow/services/wallet/app"
	"github.com/meterflow/meterflow/services/wallet/migrations"
)

// TestSchemaCheck: a database one migration behind the build is reported
// with both versions and the command that fixes it; a current one is not.
func TestSchemaCheck(t *testing.T) {
	t.Parallel()
	dbtest.ExpectSchemaChecks(t, migrations.FS, "wallet migrate", func(ctx context.Context, url string) (string, error) {
		return app.SchemaCheck(ctx, app.Config{DatabaseURL: url})
	}, nil)
}
