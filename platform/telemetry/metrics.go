package telemetry

import (
	"context"
	"net/http"
	httppprof "net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
)

// NewRegistry returns a Prometheus registry with the Go and process
// collectors and meterflow_build_info: every process starts from it.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), newBuildInfo())
	return reg
}

// MetricsHandler serves reg in the Prometheus text format.
func MetricsHandler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}

// GRPCServerMetrics counts and times the calls a gRPC server handles.
type GRPCServerMetrics struct {
	handled *prometheus.CounterVec
	latency *prometheus.HistogramVec
}

// NewGRPCServerMetrics registers the gRPC server metrics on reg.
func NewGRPCServerMetrics(reg prometheus.Registerer) *GRPCServerMetrics {
	m := &GRPCServerMetrics{
		handled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "grpc_server_handled_total",
			Help: "gRPC calls handled, by method and status code.",
		}, []string{"method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "grpc_server_handling_seconds",
			Help:    "Time to handle a gRPC call, by method.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"method"}),
	}
	reg.MustRegister(m.handled, m.latency)
	return m
}

// UnaryInterceptor records each call.
func (m *GRPCServerMetrics) UnaryInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		start := time.Now()
		resp, err := handler(ctx, req)
		m.handled.WithLabelValues(info.FullMethod, status.Code(err).String()).Inc()
		m.latency.WithLabelValues(info.FullMethod).Observe(time.Since(start).Seconds())
		return resp, err
	}
}

// AdminHandler serves the operator endpoints of a process on its admin
// (metrics) port: /metrics always and, when pprof is true, the
// net/http/pprof profiles under /debug/pprof/. Profiles are off by default
// in production (PPROF_ENABLED): they reveal code paths and cost CPU while
// taken, and the admin port is reachable by whatever can scrape metrics.
func AdminHandler(reg *prometheus.Registry, pprof bool) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", MetricsHandler(reg))
	if pprof {
		mux.HandleFunc("/debug/pprof/", httppprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", httppprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", httppprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", httppprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", httppprof.Trace)
	}
	return mux
}
