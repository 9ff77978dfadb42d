package dbtest

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Recorder is a DBTX (the interface sqlc's generated queries take) that
// keeps the statement and arguments a generated query sends instead of
// running it, so a test can ask Postgres how it would plan it.
type Recorder struct {
	SQL  string
	Args []any
}

var errRecorded = errors.New("dbtest: statement recorded, not run")

// Exec records the statement.
func (r *Recorder) Exec(_ context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	r.SQL, r.Args = sql, args
	return pgconn.CommandTag{}, errRecorded
}

// Query records the statement.
func (r *Recorder) Query(_ context.Context, sql string, args ...any) (pgx.Rows, error) {
	r.SQL, r.Args = sql, args
	return nil, errRecorded
}

// QueryRow records the statement; the row's Scan fails.
func (r *Recorder) QueryRow(_ context.Context, sql string, args ...any) pgx.Row {
	r.SQL, r.Args = sql, args
	return errRow{}
}

type errRow struct{}

func (errRow) Scan(...any) error { return errRecorded }

// IndexesUsed plans the recorded statement with its arguments (a custom
// plan, as the first executions of a prepared statement get) and returns
// the indexes the plan reads, plus "seq scan of <table>" for each
// sequential scan.
func IndexesUsed(t testing.TB, pool *pgxpool.Pool, r *Recorder) []string {
	t.Helper()
	if r.SQL == "" {
		t.Fatal("dbtest: nothing recorded")
	}
	var plan []byte
	if err := pool.QueryRow(context.Background(), "EXPLAIN (FORMAT JSON) "+r.SQL, r.Args...).Scan(&plan); err != nil {
		t.Fatalf("dbtest: explain: %v", err)
	}
	var top []struct{ Plan planNode }
	if err := json.Unmarshal(plan, &top); err != nil || len(top) != 1 {
		t.Fatalf("dbtest: explain output %s: %v", plan, err)
	}
	var out []string
	var walk func(n planNode)
	walk = func(n planNode) {
		if n.Index != "" {
			out = append(out, n.Index)
		}
		if strings.HasSuffix(n.Type, "Seq Scan") {
			out = append(out, "seq scan of "+n.Relation)
		}
		for _, c := range n.Plans {
			walk(c)
		}
	}
	walk(top[0].Plan)
	return out
}

type planNode struct {
	Type     string     `json:"Node Type"`
	Index    string     `json:"Index Name"`
	Relation string     `json:"Relation Name"`
	Plans    []planNode `json:"Plans"`
}
