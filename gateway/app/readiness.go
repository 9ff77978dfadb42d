package app

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"

	"github.com/meterflow/meterflow/platform/process"
)

// ReadyDetailPath is where the admin port (ADMIN_ADDR) reports each
// dependency: identity, wallet, workflow and Redis, with the reason one is
// down.
const ReadyDetailPath = "/readyz/detail"

// SelfReadyPath is the admin port's readiness of the gateway itself, what
// the Kubernetes readiness probe asks (deploy/k8s/base/gateway).
const SelfReadyPath = "/readyz"

// readyDetailTimeout bounds one check of every dependency.
const readyDetailTimeout = 2 * time.Second

// ready is the public GET /readyz, as the contract describes it: 200 when
// the downstream services and Redis are reachable ("ok"), 200 "degraded"
// when only Redis is down (rate limits fall back to the per-process
// limiter and the gateway still serves correctly), 503 "unavailable" when a
// service is down. It names no dependency and no reason: that detail is on
// the admin port only (ReadyDetailPath).
func (a *App) ready(ctx context.Context) (int, any) {
	code, body := a.dependencies(ctx)
	return code, map[string]any{"status": body.Status}
}

// selfReady serves SelfReadyPath on the admin port: the gateway itself,
// never its services. A readiness probe that fanned out to identity, wallet
// and workflow took every gateway replica out of the load balancer when
// one service had no ready pod, and login and the Stripe webhook went down
// with it; a route whose service is down answers its own 503 problem
// document instead. 200 "ok", or 200 "degraded" while Redis is down.
func (a *App) selfReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), readyDetailTimeout)
	defer cancel()
	status := "ok"
	if a.limiter.Ping(ctx) != nil {
		status = "degraded"
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": status})
}

// dependency is one entry of the readiness detail.
type dependency struct {
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
}

// readyDetail serves ReadyDetailPath: every dependency's state, checked
// at once. 503 "unavailable" when a service is down (with the reason it
// gives, e.g. "schema version 3, this build needs 4: run `wallet migrate`"),
// 200 "degraded" when only Redis is, 200 "ok" otherwise.
func (a *App) readyDetail(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), readyDetailTimeout)
	defer cancel()
	code, body := a.dependencies(ctx)
	writeJSON(w, code, body)
}

// writeJSON writes an uncached JSON answer of the admin port.
func writeJSON(w http.ResponseWriter, code int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}

// readiness is the state of every dependency.
type readiness struct {
	Status       string                `json:"status"`
	Dependencies map[string]dependency `json:"dependencies"`
}

// dependencies checks each service's gRPC health and Redis concurrently.
func (a *App) dependencies(ctx context.Context) (int, readiness) {
	type result struct {
		name string
		dep  dependency
	}
	results := make(chan result, len(a.conns)+1)
	for name, conn := range a.conns {
		go func() { results <- result{name, checkService(ctx, conn)} }()
	}
	go func() {
		if err := a.limiter.Ping(ctx); err != nil {
			results <- result{"redis", dependency{Status: "down", Error: "unreachable; rate limits use the per-process fallback"}}
			return
		}
		results <- result{"redis", dependency{Status: "up"}}
	}()
	deps := map[string]dependency{}
	for range len(a.conns) + 1 {
		r := <-results
		deps[r.name] = r.dep
	}
	status, code := "ok", http.StatusOK
	if deps["redis"].Status != "up" {
		status = "degraded"
	}
	for name, d := range deps {
		if name != "redis" && d.Status != "up" {
			status, code = "unavailable", http.StatusServiceUnavailable
		}
	}
	return code, readiness{Status: status, Dependencies: deps}
}

// checkService asks a service's standard health service; a service that
// is not serving says why when it waits for its schema
// (process.UnreadyReasonHeader).
func checkService(ctx context.Context, conn *grpc.ClientConn) dependency {
	var md metadata.MD
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}, grpc.Header(&md))
	switch {
	case err != nil:
		return dependency{Status: "down", Error: "unreachable"}
	case resp.GetStatus() != healthpb.HealthCheckResponse_SERVING:
		msg := resp.GetStatus().String()
		if reason := process.UnreadyReason(md); reason != "" {
			msg += ": " + reason
		}
		return dependency{Status: "down", Error: msg}
	}
	return dependency{Status: "up"}
}
