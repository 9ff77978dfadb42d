package dbtest

import (
	"io/fs"
	"strconv"
	"strings"
	"testing/fstest"
)

// UpTo returns the migrations of fsys up to and including version, for a
// database at an older schema: New(t, UpTo(migrations.FS, 3)) is what a
// database looked like before migration 4 (the schema checks and the
// drill that starts new code on an old schema use it). With no migration
// up to version it returns nil: New then makes an empty database, as
// before the first `migrate`.
func UpTo(fsys fs.FS, version int64) fs.FS {
	out := fstest.MapFS{}
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		panic("dbtest: list migrations: " + err.Error())
	}
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.ParseInt(num, 10, 64)
		if e.IsDir() || !ok || err != nil || v > version {
			continue
		}
		data, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			panic("dbtest: read migration: " + err.Error())
		}
		out[e.Name()] = &fstest.MapFile{Data: data}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
