package database_test

import (
	"context"
	"errors"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/meterflow/meterflow/platform/database"
	"github.com/meterflow/meterflow/platform/database/dbtest"
)

func TestRetry(t *testing.T) {
	deadlock := &pgconn.PgError{Code: "40P01"}
	other := errors.New("boom")
	tests := []struct {
		name     string
		errs     []error // what each attempt returns; nil after the list
		canceled bool
		want     error
		calls    int
	}{
		{"first try", nil, false, nil, 1},
		{"deadlock then success", []error{deadlock}, false, nil, 2},
		{"serialization failure then success", []error{&pgconn.PgError{Code: "40001"}}, false, nil, 2},
		{"three deadlocks", []error{deadlock, deadlock, deadlock, deadlock}, false, deadlock, 3},
		{"other error", []error{other}, false, other, 1},
		{"canceled", []error{deadlock}, true, deadlock, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			if tt.canceled {
				cancel()
			}
			defer cancel()
			calls := 0
			err := database.Retry(ctx, func() error {
				calls++
				if calls <= len(tt.errs) {
					return tt.errs[calls-1]
				}
				return nil
			})
			if !errors.Is(err, tt.want) || calls != tt.calls {
				t.Errorf("Retry = %v after %d calls, want %v after %d", err, calls, tt.want, tt.calls)
			}
		})
	}
}

// TestInTx: a transaction is committed when fn succeeds and rolled back
// when it fails, also when ctx is canceled inside it.
func TestInTx(t *testing.T) {
	pool, _ := dbtest.New(t, fstest.MapFS{"00001_t.sql": {Data: []byte("-- +goose Up\nCREATE TABLE t (v int);\n")}})
	ctx := context.Background()
	insert := func(v int) func(pgx.Tx) error {
		return func(tx pgx.Tx) error { _, err := tx.Exec(ctx, "INSERT INTO t VALUES ($1)", v); return err }
	}
	if err := database.InTx(ctx, pool, insert(1)); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	if err := database.InTx(ctx, pool, func(tx pgx.Tx) error { _ = insert(2)(tx); return boom }); !errors.Is(err, boom) {
		t.Fatalf("InTx = %v, want boom", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	_ = database.InTx(cctx, pool, func(tx pgx.Tx) error { _ = insert(3)(tx); cancel(); return cctx.Err() })
	var got []int
	rows, err := pool.Query(ctx, "SELECT v FROM t ORDER BY v")
	if err != nil {
		t.Fatal(err)
	}
	got, err = pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil || len(got) != 1 || got[0] != 1 {
		t.Fatalf("rows = %v, %v; want only the committed [1]", got, err)
	}
}
