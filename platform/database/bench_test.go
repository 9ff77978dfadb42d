package database_test

import (
	"context"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/meterflow/meterflow/platform/database"
	"github.com/meterflow/meterflow/platform/database/dbtest"
	"github.com/meterflow/meterflow/platform/telemetry"
)

// BenchmarkQuery is one statement through a pool opened as the services
// open theirs (database.Open: its tracer, its uuid codec), inside a call's
// span as a gRPC handler runs it, with tracing off (no exporter: the
// bench's and `make run`'s setup) and exported. cpu-ns/op is this
// process's CPU per statement (Postgres's is not counted).
func BenchmarkQuery(b *testing.B) {
	_, url := dbtest.New(b, nil)
	b.Setenv(database.PoolSizeVar, "2")
	for _, tc := range []struct {
		name      string
		exporting bool
	}{
		{"tracing=off", false},
		{"tracing=exported", true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var extra []sdktrace.SpanProcessor
			if tc.exporting {
				extra = append(extra, sdktrace.NewBatchSpanProcessor(tracetest.NewNoopExporter()))
			}
			shutdown, err := telemetry.SetupTracing(context.Background(), "bench", extra...)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = shutdown(context.Background()) })
			pool, err := database.Open(context.Background(), url)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(pool.Close)
			ctx, span := otel.Tracer("bench").Start(context.Background(), "call")
			defer span.End()
			b.ReportAllocs()
			before := cpuTime(b)
			for b.Loop() {
				var n int64
				if err := pool.QueryRow(ctx, "SELECT $1::bigint + 1", int64(41)).Scan(&n); err != nil || n != 42 {
					b.Fatalf("query = %d, %v", n, err)
				}
			}
			b.ReportMetric(float64(cpuTime(b)-before)/float64(b.N), "cpu-ns/op")
		})
	}
}

func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
