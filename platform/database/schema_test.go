package database_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/meterflow/meterflow/platform/database"
	"github.com/meterflow/meterflow/platform/database/dbtest"
)

// schemaFS is a service's migrations in these tests: two versions.
var schemaFS = fstest.MapFS{
	"00001_a.sql": {Data: []byte("-- +goose Up\nCREATE TABLE a (id int);\n-- +goose Down\nDROP TABLE a;\n")},
	"00002_b.sql": {Data: []byte("-- +goose Up\nALTER TABLE a ADD COLUMN b int;\n-- +goose Down\nALTER TABLE a DROP COLUMN b;\n")},
	"embed.go":    {Data: []byte("package migrations\n")},
}

// TestCheckSchema: a database older than the build's newest migration is
// reported with both versions and the command that fixes it; the same or
// a newer schema (a rollback's build) passes; an unreachable database is
// an error, not a verdict.
func TestCheckSchema(t *testing.T) {
	t.Parallel()
	newer := fstest.MapFS{"00003_c.sql": {Data: []byte("-- +goose Up\nCREATE TABLE c (id int);\n")}}
	for k, v := range schemaFS {
		newer[k] = v
	}
	_, v1 := dbtest.New(t, dbtest.UpTo(schemaFS, 1))
	_, v2 := dbtest.New(t, schemaFS)
	_, v3 := dbtest.New(t, newer)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "postgres://postgres@" + lis.Addr().String() + "/x?sslmode=disable&connect_timeout=2"
	_ = lis.Close()

	tests := []struct {
		name, url  string
		wantBehind string
		wantErr    bool
	}{
		{"older", v1, "schema version 1, this build needs 2: run `demo migrate`", false},
		{"current", v2, "", false},
		{"newer", v3, "", false},
		{"unreachable", dead, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := database.CheckSchema(context.Background(), tc.url, schemaFS, "demo migrate")
			behind, err := database.Behind(err)
			if behind != tc.wantBehind || (err != nil) != tc.wantErr {
				t.Fatalf("behind %q, err %v; want %q, error %t", behind, err, tc.wantBehind, tc.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "schema version") {
				t.Errorf("an unreachable database reported as a schema verdict: %v", err)
			}
		})
	}
	// A database never migrated is at version 0.
	_, empty := dbtest.New(t, nil)
	var behind *database.SchemaBehindError
	if err := database.CheckSchema(context.Background(), empty, schemaFS, "demo migrate"); !errors.As(err, &behind) || behind.Have != 0 || behind.Want != 2 {
		t.Fatalf("empty database: %v", err)
	}
}
