// Package migrations holds the identity database's goose migrations.
package migrations

import "embed"

// FS holds the numbered migration files, applied by database.Migrate.
//
//go:embed *.sql
var FS embed.FS
