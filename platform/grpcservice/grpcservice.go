// Package grpcservice builds, runs and dials the gRPC servers of the services
// with the same instrumentation, limits and shutdown everywhere.
package grpcservice

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"

	"github.com/meterflow/meterflow/platform/callauth"
	"github.com/meterflow/meterflow/platform/rpcerr"
	"github.com/meterflow/meterflow/platform/telemetry"
)

// MaxMessageBytes bounds every gRPC message in both directions.
const MaxMessageBytes = 4 << 20

// Options configure NewServer.
type Options struct {
	Logger  *slog.Logger
	Auth    *callauth.Server
	Metrics *telemetry.GRPCServerMetrics
}

// StreamWorkers is how many goroutines of a server handle its calls. gRPC
// otherwise starts a goroutine per call, whose stack grows again through
// the handler's depth every time (runtime.morestack was about 8 % of the
// wallet's profile); a worker keeps its grown stack. A call that finds
// every worker busy gets its own goroutine, as before, so a slow handler
// queues nothing (ADR 0023).
const StreamWorkers = 16

// WindowBytes is the HTTP/2 flow-control window of every stream and
// connection, both ways. A fixed window turns off gRPC's bandwidth-delay
// estimation, which pinged the peer (a frame and a syscall each way)
// after every burst of data: with calls of a few hundred bytes, about one
// ping per call (ADR 0023). 1 MiB covers the largest messages' bursts
// inside a cluster; a call may still send up to MaxMessageBytes.
const WindowBytes = 1 << 20

// NewServer returns a gRPC server with tracing, metrics, panic recovery,
// call authentication and the standard health service registered (SERVING).
// Build it after telemetry.SetupTracing: how it traces depends on whether
// spans are recorded (see serverTracing).
func NewServer(o Options) (*grpc.Server, *health.Server) {
	var interceptors []grpc.UnaryServerInterceptor
	opts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(MaxMessageBytes),
		grpc.MaxSendMsgSize(MaxMessageBytes),
		grpc.ConnectionTimeout(10 * time.Second),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		// Clients pin one HTTP/2 connection through a Kubernetes Service;
		// ageing connections out makes them reconnect and spread over new
		// replicas. The grace outlasts the longest call (a sync run's 300 s cap).
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionAge: 2 * time.Minute, MaxConnectionAgeGrace: 6 * time.Minute}),
		grpc.NumStreamWorkers(StreamWorkers),
		grpc.InitialWindowSize(WindowBytes),
		grpc.InitialConnWindowSize(WindowBytes),
	}
	handler, traceCalls := serverTracing()
	if handler != nil {
		opts = append(opts, grpc.StatsHandler(handler))
	} else {
		// First, so the recoverer's and logErrors' lines carry the trace.
		interceptors = append(interceptors, traceCalls)
	}
	interceptors = append(interceptors, recoverer(o.Logger))
	if o.Metrics != nil {
		interceptors = append(interceptors, o.Metrics.UnaryInterceptor())
	}
	interceptors = append(interceptors, logErrors(o.Logger), o.Auth.UnaryInterceptor())
	srv := grpc.NewServer(append(opts, grpc.ChainUnaryInterceptor(interceptors...))...)
	hs := health.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	return srv, hs
}

func recoverer(log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
		defer func() {
			if r := recover(); r != nil {
				log.ErrorContext(ctx, "panic in gRPC handler", "method", info.FullMethod, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
				err = status.Error(codes.Internal, "internal error")
			}
		}()
		return handler(ctx, req)
	}
}

// logErrors logs, once and with the request's trace id, every call that
// failed on our side, with its cause (rpcerr.InternalError keeps it);
// client errors are the caller's to report. An Internal or Unknown error
// leaves the process as a bare "internal error": no cause, message or
// Go error text ever reaches the caller.
func logErrors(log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		resp, err := handler(ctx, req)
		switch code := status.Code(err); code {
		case codes.Internal, codes.Unknown, codes.DataLoss, codes.Unavailable:
			cause := err
			if c := rpcerr.Cause(err); c != nil {
				cause = c
			}
			log.ErrorContext(ctx, "gRPC call failed", "method", info.FullMethod, "code", code.String(), "err", cause)
			if code == codes.Internal || code == codes.Unknown {
				return resp, rpcerr.New(codes.Internal, rpcerr.Internal, "internal error")
			}
		}
		return resp, err
	}
}

// Dial returns a client connection to target (host:port) whose calls carry
// creds, are traced, and never retried once they may have reached the server.
// Dial after telemetry.SetupTracing (see clientTracing).
func Dial(target string, creds credentials.PerRPCCredentials) (*grpc.ClientConn, error) {
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(creds),
		grpc.WithInitialWindowSize(WindowBytes),
		grpc.WithInitialConnWindowSize(WindowBytes),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxMessageBytes), grpc.MaxCallSendMsgSize(MaxMessageBytes)),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
		// gRPC's default reconnect backoff grows to 120 s; after a peer
		// restarts, calls would keep failing fast long after it is back
		// (the crash drills saw runs settle late). Retry at most every 3 s.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 3 * time.Second},
			MinConnectTimeout: 5 * time.Second,
		}),
	}
	if handler, traceCalls := clientTracing(); handler != nil {
		opts = append(opts, grpc.WithStatsHandler(handler))
	} else {
		opts = append(opts, grpc.WithUnaryInterceptor(traceCalls))
	}
	conn, err := grpc.NewClient(target, opts...)
	if err != nil {
		return nil, fmt.Errorf("grpcservice: dial %s: %w", target, err)
	}
	return conn, nil
}

// Serve runs srv on lis and, if metricsAddr is set, an HTTP server with
// the admin handler (telemetry.AdminHandler: /metrics, maybe pprof) until
// ctx ends, then drains:
// health turns NOT_SERVING, in-flight calls get up to grace to finish.
func Serve(ctx context.Context, log *slog.Logger, lis net.Listener, srv *grpc.Server, hs *health.Server, metricsAddr string, admin http.Handler, grace time.Duration) error {
	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(lis) }()
	var httpSrv *http.Server
	if metricsAddr != "" {
		httpSrv = &http.Server{Addr: metricsAddr, Handler: admin, ReadHeaderTimeout: 5 * time.Second}
		go func() {
			if err := httpSrv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("metrics server on %s: %w", metricsAddr, err)
			}
		}()
	}
	log.InfoContext(ctx, "serving", "grpc", lis.Addr().String(), "metrics", metricsAddr)

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	hs.Shutdown()
	stopped := make(chan struct{})
	go func() { srv.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(grace):
		srv.Stop()
	}
	if httpSrv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), grace)
		defer cancel()
		_ = httpSrv.Shutdown(sctx)
	}
	log.Info("stopped")
	return runErr
}
