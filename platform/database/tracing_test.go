package database_test

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/meterflow/meterflow/platform/database"
	"github.com/meterflow/meterflow/platform/database/dbtest"
	"github.com/meterflow/meterflow/platform/telemetry"
)

// TestQuerySpans: a pool opened while the process records spans (an
// exporter is configured) makes a span per statement under the caller's,
// with the SQL and no argument; opened while it records none, it makes
// none (ADR 0023) and its statements run the same. Not parallel: it
// installs the process-wide tracer provider.
func TestQuerySpans(t *testing.T) {
	_, url := dbtest.New(t, nil)
	t.Setenv(database.PoolSizeVar, "1")
	tests := []struct {
		name   string
		record bool
	}{
		{"spans recorded", true},
		{"no exporter", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := tracetest.NewSpanRecorder()
			var extra []sdktrace.SpanProcessor
			if tc.record {
				extra = append(extra, rec)
			}
			shutdown, err := telemetry.SetupTracing(context.Background(), "database-test", extra...)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = shutdown(context.Background()) })
			pool, err := database.Open(context.Background(), url)
			if err != nil {
				t.Fatal(err)
			}
			defer pool.Close()
			if traced := pool.Config().ConnConfig.Tracer != nil; traced != tc.record {
				t.Fatalf("pool has a query tracer: %t, want %t", traced, tc.record)
			}
			ctx, call := otel.Tracer("test").Start(context.Background(), "call")
			var n int64
			err = pool.QueryRow(ctx, "SELECT $1::bigint + 1", int64(41)).Scan(&n)
			call.End()
			if err != nil || n != 42 {
				t.Fatalf("query = %d, %v", n, err)
			}
			var queries []sdktrace.ReadOnlySpan
			for _, s := range rec.Ended() {
				if s.InstrumentationScope().Name == "github.com/exaring/otelpgx" && s.Parent().SpanID() == call.SpanContext().SpanID() {
					queries = append(queries, s)
				}
			}
			if !tc.record {
				return
			}
			if len(queries) != 1 {
				t.Fatalf("%d query spans under the call, want 1", len(queries))
			}
			for _, a := range queries[0].Attributes() {
				if v := a.Value.Emit(); v == "41" {
					t.Errorf("query span attribute %s carries the argument", a.Key)
				}
			}
		})
	}
}
