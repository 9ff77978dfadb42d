// Package telemetry sets up traces, logs and metrics the same way in every process.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
)

// SetupTracing installs the global tracer provider and W3C propagation.
// Spans are exported over OTLP/gRPC when OTEL_EXPORTER_OTLP_ENDPOINT is set
// (the exporter reads the standard OTEL_* variables, the sampler
// OTEL_TRACES_SAMPLER); otherwise spans are still created, so logs carry
// trace ids, but are not recorded. Extra span
// processors (tests use an in-memory exporter) may be passed.
func SetupTracing(ctx context.Context, service string, extra ...sdktrace.SpanProcessor) (shutdown func(context.Context) error, err error) {
	res, err := resource.Merge(resource.Default(), resource.NewWithAttributes(semconv.SchemaURL, semconv.ServiceName(service), semconv.ServiceVersion(Version)))
	if err != nil && !errors.Is(err, resource.ErrSchemaURLConflict) {
		return nil, fmt.Errorf("telemetry: resource: %w", err)
	}
	opts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	exporting := len(extra) > 0
	if os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != "" {
		exporting = true
		exp, err := otlptracegrpc.New(ctx)
		if err != nil {
			return nil, fmt.Errorf("telemetry: OTLP exporter (check OTEL_EXPORTER_OTLP_ENDPOINT): %w", err)
		}
		opts = append(opts, sdktrace.WithBatcher(exp))
	}
	for _, p := range extra {
		opts = append(opts, sdktrace.WithSpanProcessor(p))
	}
	if !exporting {
		// Nothing exports: record nothing. Spans are still created with
		// trace and span ids, so logs and the traceparent sent downstream
		// still carry them, but no attributes or events are kept for no
		// one (that cost a tenth of a service's CPU on the hot paths).
		// With an exporter, the SDK's default sampler applies
		// (parentbased_always_on, or OTEL_TRACES_SAMPLER).
		opts = append(opts, sdktrace.WithSampler(sdktrace.NeverSample()))
	}
	tp := sdktrace.NewTracerProvider(opts...)
	otel.SetTracerProvider(tp)
	if exporting {
		tracing.Store(int32(tracingRecorded))
	} else {
		tracing.Store(int32(tracingUnrecorded))
	}
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	return tp.Shutdown, nil
}

// The tracing SetupTracing installed last: unknown until it runs.
const (
	tracingUnknown int32 = iota
	tracingRecorded
	tracingUnrecorded
)

var tracing atomic.Int32

// SpansUnrecorded reports whether the process's tracing, as SetupTracing
// installed it, records no span (no exporter, no span processor). The gRPC
// and Postgres instrumentation then make only what logs and propagation
// need (ADR 0023): a span context per incoming call, the W3C headers on
// outgoing calls, no per-call attributes, events or query spans nobody
// receives. False before SetupTracing runs (tests that install their own
// provider keep the full instrumentation) and when it exports. Servers,
// clients and pools read it when they are built, so build them after
// SetupTracing (as process.Run does).
func SpansUnrecorded() bool { return tracing.Load() == tracingUnrecorded }
