// Package migrations holds the wallet database's goose migrations.
package migrations

import "embed"

// FS holds the NNNNN_name.sql migration files.
//
//go:embed *.sql
var FS embed.FS
