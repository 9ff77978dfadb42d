package database_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/meterflow/meterflow/platform/database"
	"github.com/meterflow/meterflow/platform/database/dbtest"
)

// logWatch is a slog handler that signals the first record whose message
// contains want.
type logWatch struct {
	slog.Handler
	want string
	once *sync.Once
	seen chan struct{}
}

func (w logWatch) Enabled(context.Context, slog.Level) bool { return true }

func (w logWatch) Handle(ctx context.Context, r slog.Record) error {
	if strings.Contains(r.Message, w.want) {
		w.once.Do(func() { close(w.seen) })
	}
	return nil
}

// TestMigrateGivesUpOnLocksAndRetries: a migration that waits for a table
// lock held by a long transaction gives up after its lock_timeout (so the
// live release's queries do not queue behind it) and is tried again until
// the lock is free (regression: no migration set lock_timeout).
func TestMigrateGivesUpOnLocksAndRetries(t *testing.T) {
	t.Parallel()
	pool, url := dbtest.New(t, dbtest.UpTo(schemaFS, 1))
	// A long transaction of the live release holds a lock on the table.
	tx, err := pool.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(context.Background()) }()
	if _, err := tx.Exec(context.Background(), "LOCK TABLE a IN ACCESS SHARE MODE"); err != nil {
		t.Fatal(err)
	}
	w := logWatch{Handler: slog.DiscardHandler, want: "trying again", once: &sync.Once{}, seen: make(chan struct{})}
	done := make(chan error, 1)
	go func() {
		// A short lock_timeout in the URL overrides MigrationLockTimeout.
		done <- database.Migrate(context.Background(), url+"&lock_timeout=200ms", schemaFS, slog.New(w))
	}()
	select {
	case <-w.seen:
	case err := <-done:
		t.Fatalf("the migration ended while the table was locked: %v", err)
	}
	// The live query is not stuck behind the waiting ALTER TABLE.
	var n int
	if err := pool.QueryRow(context.Background(), "SELECT count(*) FROM a").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("migrate after the lock was released: %v", err)
	}
	if v, err := database.SchemaVersion(context.Background(), pool); err != nil || v != 2 {
		t.Fatalf("schema version %d, %v; want 2", v, err)
	}
}

// TestMigrateFailsOnOtherErrors: only lock timeouts are retried.
func TestMigrateFailsOnOtherErrors(t *testing.T) {
	t.Parallel()
	_, url := dbtest.New(t, nil)
	bad := fstest.MapFS{"00001_bad.sql": {Data: []byte("-- +goose Up\nALTER TABLE missing ADD COLUMN x int;\n")}}
	w := logWatch{Handler: slog.DiscardHandler, want: "trying again", once: &sync.Once{}, seen: make(chan struct{})}
	if err := database.Migrate(context.Background(), url, bad, slog.New(w)); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("err = %v", err)
	}
	select {
	case <-w.seen:
		t.Error("a migration error that is not a lock timeout was retried")
	default:
	}
}
