package jobs_test

import (
	"context"
	"regexp"
	"testing"
	"testing/fstest"

	"github.com/meterflow/meterflow/platform/database"
	"github.com/meterflow/meterflow/platform/database/dbtest"
	"github.com/meterflow/meterflow/platform/jobs"
)

// testMigrations are a service's migrations: two, so that a database one
// behind can be made.
var testMigrations = fstest.MapFS{
	"00001_things.sql": {Data: []byte("-- +goose Up\nCREATE TABLE things (id int PRIMARY KEY);\n-- +goose Down\nDROP TABLE things;\n")},
	"00002_more.sql":   {Data: []byte("-- +goose Up\nALTER TABLE things ADD COLUMN name text;\n-- +goose Down\nALTER TABLE things DROP COLUMN name;\n")},
}

// TestSetup: `migrate` on a server without the service's database creates
// it and applies the service's migrations and River's, after which the
// schema check finds nothing missing; a second run changes nothing.
func TestSetup(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, url := dbtest.Unused(t)
	for range 2 {
		if err := jobs.Setup(ctx, url, testMigrations, nil); err != nil {
			t.Fatal(err)
		}
	}
	pool, err := database.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := pool.Exec(ctx, "INSERT INTO things (id, name) VALUES (1, 'a')"); err != nil {
		t.Errorf("the service's migrations: %v", err)
	}
	if err := jobs.Ready(ctx, pool, "svc migrate"); err != nil {
		t.Errorf("River's migrations: %v", err)
	}
	if behind, err := jobs.SchemaCheck(ctx, url, testMigrations, "svc migrate"); behind != "" || err != nil {
		t.Errorf("SchemaCheck after Setup: %q, %v; want nothing", behind, err)
	}
}

// TestSchemaCheck: the service's schema one migration behind, or River's
// tables missing, are reported with the versions and the command that
// fixes both; a database with both current is not; an unreachable
// database is an error, not a verdict.
func TestSchemaCheck(t *testing.T) {
	t.Parallel()
	check := func(ctx context.Context, url string) (string, error) {
		return jobs.SchemaCheck(ctx, url, testMigrations, "svc migrate")
	}
	dbtest.ExpectSchemaChecks(t, testMigrations, "svc migrate", check, func(url string) error {
		return jobs.MigrateDatabase(context.Background(), url, nil)
	})
	_, noRiver := dbtest.New(t, testMigrations)
	river := regexp.MustCompile("^River's schema version 0, this build needs [1-9][0-9]*: run `svc migrate`$")
	if behind, err := check(context.Background(), noRiver); err != nil || !river.MatchString(behind) {
		t.Errorf("without River's tables: %q, %v", behind, err)
	}
	if behind, err := check(context.Background(), "postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=1"); err == nil || behind != "" {
		t.Errorf("unreachable database: %q, %v; want an error", behind, err)
	}
}
