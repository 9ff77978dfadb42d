package process

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
)

// ProbeTimeout bounds one healthcheck; it matches the timeout of the
// compose health checks (docker-compose.yml), which kill a slower one.
const ProbeTimeout = 3 * time.Second

// Listener is where a process serves (the address serve listens on, read
// from the process's Config) and how healthcheck asks it there. Make one
// with GRPC or HTTP.
type Listener[C any] struct {
	// Var is the variable that sets the address, for messages.
	Var string
	// Addr returns the address from the configuration.
	Addr func(C) string

	probe    func(ctx context.Context, addr string) error
	probeDoc string
	// unready answers on a listener while the process waits for its
	// schema (waitForSchema), until stop is called.
	unready func(lis net.Listener, reason func() string) (stop func())
}

// GRPC is the listener of a service: GRPC_ADDR, asked through the
// standard gRPC health service.
func GRPC[C any](addr func(C) string) Listener[C] {
	return Listener[C]{Var: "GRPC_ADDR", Addr: addr, probe: CheckGRPC, unready: serveUnreadyGRPC,
		probeDoc: "the service on GRPC_ADDR answers SERVING to the gRPC health check"}
}

// HTTP is the listener of an HTTP process: HTTP_ADDR, asked with a GET of
// readyPath that must answer 200.
func HTTP[C any](addr func(C) string, readyPath string) Listener[C] {
	return Listener[C]{Var: "HTTP_ADDR", Addr: addr, unready: serveUnreadyHTTP,
		probe:    func(ctx context.Context, addr string) error { return CheckHTTP(ctx, addr, readyPath) },
		probeDoc: "GET " + readyPath + " on HTTP_ADDR answers 200"}
}

// CheckGRPC asks the standard gRPC health service at addr and returns nil
// only if it answers SERVING within ProbeTimeout; the error of a process
// that is not serving carries the reason it gives (UnreadyReasonHeader).
// A listen address such as ":50051" or "0.0.0.0:50051" is dialed on
// loopback.
func CheckGRPC(ctx context.Context, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, ProbeTimeout)
	defer cancel()
	addr = DialAddr(addr)
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("healthcheck %s: %w", addr, err)
	}
	defer conn.Close()
	var md metadata.MD
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}, grpc.Header(&md))
	if err != nil {
		return fmt.Errorf("healthcheck %s: %w", addr, err)
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		if r := UnreadyReason(md); r != "" {
			return fmt.Errorf("healthcheck %s: %s: %s", addr, resp.GetStatus(), r)
		}
		return fmt.Errorf("healthcheck %s: %s", addr, resp.GetStatus())
	}
	return nil
}

// UnreadyReason returns the reason a process gave in the headers of a
// health check it answered NOT_SERVING (grpc.Header), or "".
func UnreadyReason(md metadata.MD) string {
	if v := md.Get(UnreadyReasonHeader); len(v) > 0 {
		return v[0]
	}
	return ""
}

// CheckHTTP GETs path on addr and returns nil only if it answers 200
// within ProbeTimeout. A wildcard listen address is dialed on loopback.
func CheckHTTP(ctx context.Context, addr, path string) error {
	ctx, cancel := context.WithTimeout(ctx, ProbeTimeout)
	defer cancel()
	addr = DialAddr(addr)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		return fmt.Errorf("healthcheck %s: %w", addr, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // the address is said once
		}
		return fmt.Errorf("healthcheck %s: GET %s: %w", addr, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck %s: GET %s answered %s", addr, path, resp.Status)
	}
	return nil
}

// DialAddr is where a client reaches a process listening on addr: a
// wildcard host (":8080", "0.0.0.0:8080", "[::]:8080") is dialed on
// 127.0.0.1, any other address as it is.
func DialAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || (host != "" && !net.ParseIP(host).IsUnspecified()) {
		return addr
	}
	return net.JoinHostPort("127.0.0.1", port)
}
