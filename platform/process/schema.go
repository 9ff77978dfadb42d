package process

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// DefaultSchemaRecheck is how often a process waiting for its schema
// checks again.
const DefaultSchemaRecheck = 5 * time.Second

// UnreadyReasonHeader is the gRPC response header in which a process that
// waits for its schema says why it answers NOT_SERVING: the gateway's
// admin status (/readyz/detail) and `healthcheck` show it, so the operator
// reads "schema version 3, this build needs 4: run `wallet migrate`"
// wherever they look.
const UnreadyReasonHeader = "meterflow-unready-reason"

// waitForSchema runs before New. When the process has a Schema check and
// the database's schema is older than the build needs, it does not start
// the process on it: it listens on the process's address and answers
// there, unready — the gRPC health check NOT_SERVING with the reason in
// UnreadyReasonHeader, every other call Unavailable with the reason (an
// HTTP process: 503 with the reason) — logs the reason, and checks again
// every SchemaRecheck. Nothing of the process runs meanwhile: no server,
// no sweeper, no job worker touches the old schema. Once someone ran
// `migrate`, it stops answering and returns a listener on the same
// address for Serve, and the process starts as usual; stopped reports that
// ctx ended first (SIGTERM while waiting: a clean exit).
//
// Why wait rather than exit: in Kubernetes each pod's init container
// migrates first, so a server normally never sees an old schema; when one
// does (migrations run by hand or by a Job, a database restored from an
// older backup), a process that waits becomes ready by itself the moment
// the schema is current, instead of crash-looping with growing back-off,
// and meanwhile says why on its health check, not only in a log.
func (p Process[C, S]) waitForSchema(ctx context.Context, cfg C, log *slog.Logger) (lis net.Listener, stopped bool, err error) {
	if p.Schema == nil {
		return nil, false, nil
	}
	behind, err := p.Schema(ctx, cfg)
	if err != nil || behind == "" {
		return nil, false, err
	}
	addr := p.Listen.Addr(cfg)
	lis, err = net.Listen("tcp", addr)
	if err != nil {
		return nil, false, fmt.Errorf("listen on %s %s: %w", p.Listen.Var, addr, err)
	}
	bound := lis.Addr().String()
	var reason atomic.Pointer[string]
	reason.Store(&behind)
	stop := p.Listen.unready(lis, func() string { return *reason.Load() })
	log.ErrorContext(ctx, "not serving: the database schema is older than this build needs; waiting until it is migrated", "reason", behind)

	every := p.SchemaRecheck
	if every <= 0 {
		every = DefaultSchemaRecheck
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			stop()
			return nil, true, nil
		case <-tick.C:
		}
		now, err := p.Schema(ctx, cfg)
		switch {
		case err != nil:
			log.WarnContext(ctx, "checking the database schema failed; still waiting", "err", err)
		case now != "":
			if now != *reason.Load() {
				reason.Store(&now)
				log.ErrorContext(ctx, "not serving: the database schema is older than this build needs; waiting until it is migrated", "reason", now)
			}
		default:
			// The unready server closes the listener; the address is
			// bound again at once (SO_REUSEADDR), for the real server.
			stop()
			log.InfoContext(ctx, "the database schema is current now; starting")
			lis, err := net.Listen("tcp", bound)
			if err != nil {
				return nil, false, fmt.Errorf("listen on %s %s: %w", p.Listen.Var, bound, err)
			}
			return lis, false, nil
		}
	}
}

// serveUnreadyGRPC answers on lis as a gRPC service that is not ready:
// health NOT_SERVING with the reason, every other method Unavailable.
func serveUnreadyGRPC(lis net.Listener, reason func() string) (stop func()) {
	srv := grpc.NewServer(grpc.UnknownServiceHandler(func(any, grpc.ServerStream) error {
		return status.Error(codes.Unavailable, reason())
	}))
	healthpb.RegisterHealthServer(srv, unreadyHealth{reason: reason})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis)
	}()
	return func() {
		srv.Stop()
		<-done
	}
}

// unreadyHealth is the health service of a process waiting for its schema.
type unreadyHealth struct {
	healthpb.UnimplementedHealthServer
	reason func() string
}

func (h unreadyHealth) Check(ctx context.Context, _ *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	_ = grpc.SetHeader(ctx, metadata.Pairs(UnreadyReasonHeader, h.reason()))
	return &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_NOT_SERVING}, nil
}

func (h unreadyHealth) Watch(_ *healthpb.HealthCheckRequest, stream healthpb.Health_WatchServer) error {
	_ = stream.SetHeader(metadata.Pairs(UnreadyReasonHeader, h.reason()))
	if err := stream.Send(&healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_NOT_SERVING}); err != nil {
		return err
	}
	<-stream.Context().Done()
	return nil
}

// serveUnreadyHTTP answers every request on lis with 503 and the reason.
func serveUnreadyHTTP(lis net.Listener, reason func() string) (stop func()) {
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, reason(), http.StatusServiceUnavailable)
	})}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis)
	}()
	return func() {
		_ = srv.Close()
		<-done
	}
}
