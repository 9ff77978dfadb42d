package grpcservice

import (
	"context"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/stats"

	"github.com/meterflow/meterflow/platform/telemetry"
)

// How a server or client traces its calls is chosen when it is built
// (ADR 0023). When the process records spans (an exporter is configured),
// otelgrpc's stats handlers make the client and server spans with their
// attributes and status, as before. When it records none
// (telemetry.SpansUnrecorded), an unsampled span with its attributes,
// gRPC's per-message stats events and otelgrpc's parsing of each call's
// method and metadata were CPU spent for no one (6–8 % of a service's),
// so the servers and clients carry only what logs and downstream calls
// read: the incoming W3C context continued by a span context of the
// call's own (log lines carry its trace and span ids), and the outgoing
// W3C headers of the caller's context.

// otelgrpc's OTel metrics are off everywhere: no process installs an OTel
// MeterProvider (metrics are Prometheus's), so they were recorded for no one.
func otelgrpcOptions() []otelgrpc.Option {
	return []otelgrpc.Option{otelgrpc.WithMeterProvider(noop.NewMeterProvider())}
}

// serverTracing returns the server's stats handler (recorded spans) or
// the interceptor that continues the caller's trace (unrecorded), one of
// them nil.
func serverTracing() (stats.Handler, grpc.UnaryServerInterceptor) {
	if !telemetry.SpansUnrecorded() {
		return otelgrpc.NewServerHandler(otelgrpcOptions()...), nil
	}
	tracer := otel.GetTracerProvider().Tracer(scope)
	return nil, func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		return handler(startServerSpan(ctx, tracer, info.FullMethod), req)
	}
}

// startServerSpan returns ctx with the caller's W3C context (traceparent,
// tracestate, baggage, read with the process's propagator) and a span of
// this call under it: a new trace when the caller sent none. The tracer
// records nothing (telemetry.SpansUnrecorded), so the span is not ended.
func startServerSpan(ctx context.Context, tracer trace.Tracer, method string) context.Context {
	ctx = otel.GetTextMapPropagator().Extract(ctx, incomingCarrier{ctx})
	ctx, _ = tracer.Start(ctx, method)
	return ctx
}

// clientTracing returns the client's stats handler (recorded spans) or
// the interceptor that sends the caller's W3C context (unrecorded), one
// of them nil.
func clientTracing() (stats.Handler, grpc.UnaryClientInterceptor) {
	if !telemetry.SpansUnrecorded() {
		return otelgrpc.NewClientHandler(otelgrpcOptions()...), nil
	}
	return nil, func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		return invoker(injectTrace(ctx), method, req, reply, cc, opts...)
	}
}

// injectTrace returns ctx whose outgoing metadata carries ctx's W3C
// context, as the process's propagator writes it (nothing without a trace).
func injectTrace(ctx context.Context) context.Context {
	var out outgoingCarrier
	otel.GetTextMapPropagator().Inject(ctx, &out)
	if len(out) == 0 {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, out...)
}

// scope names the spans the unrecorded path starts.
const scope = "github.com/meterflow/meterflow/platform/grpcservice"

// incomingCarrier reads a call's incoming metadata without copying it
// (metadata.FromIncomingContext copies the whole map).
type incomingCarrier struct{ ctx context.Context }

func (c incomingCarrier) Get(key string) string {
	if v := metadata.ValueFromIncomingContext(c.ctx, key); len(v) > 0 {
		return v[0]
	}
	return ""
}

func (incomingCarrier) Set(string, string) {}

func (c incomingCarrier) Keys() []string {
	md, _ := metadata.FromIncomingContext(c.ctx)
	keys := make([]string, 0, len(md))
	for k := range md {
		keys = append(keys, k)
	}
	return keys
}

// outgoingCarrier collects the headers a propagator writes, as the
// key-value pairs metadata.AppendToOutgoingContext takes.
type outgoingCarrier []string

func (c *outgoingCarrier) Set(key, value string) { *c = append(*c, key, value) }

func (c *outgoingCarrier) Get(key string) string {
	for i := 0; i+1 < len(*c); i += 2 {
		if (*c)[i] == key {
			return (*c)[i+1]
		}
	}
	return ""
}

func (c *outgoingCarrier) Keys() []string {
	keys := make([]string, 0, len(*c)/2)
	for i := 0; i < len(*c); i += 2 {
		keys = append(keys, (*c)[i])
	}
	return keys
}
