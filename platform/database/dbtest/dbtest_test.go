package dbtest_test

import (
	"context"
	"testing"
	"testing/fstest"

	"github.com/meterflow/meterflow/platform/database/dbtest"
)

func TestNewGivesAMigratedPrivateDatabase(t *testing.T) {
	t.Parallel()
	migrations := fstest.MapFS{
		"00001_init.sql": {Data: []byte("-- +goose Up\nCREATE TABLE things (id int PRIMARY KEY);\n-- +goose Down\nDROP TABLE things;\n")},
	}
	a, _ := dbtest.New(t, migrations)
	b, _ := dbtest.New(t, migrations)
	ctx := context.Background()
	if _, err := a.Exec(ctx, "INSERT INTO things VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := b.QueryRow(ctx, "SELECT count(*) FROM things").Scan(&n); err != nil || n != 0 {
		t.Fatalf("second database sees %d rows (%v); want its own empty table", n, err)
	}
}
