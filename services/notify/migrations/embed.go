// Package migrations holds the notify service's schema as goose files.
package migrations

import "embed"

// FS is the set of migration files, applied in order by database.Migrate.
//
//go:embed *.sql
var FS embed.FS
