package app

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/meterflow/meterflow/platform/callauth/authtest"
	"github.com/meterflow/meterflow/platform/process"
)

// adminGet asks the admin port's handler.
func adminGet(t *testing.T, a *App, path string) (int, []byte) {
	t.Helper()
	rec := httptest.NewRecorder()
	a.AdminHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code, rec.Body.Bytes()
}

// waitingService answers the gRPC health check like a service waiting
// for its schema (platform/process): NOT_SERVING, with the reason; its
// other methods answer Unavailable.
type waitingService struct {
	healthpb.UnimplementedHealthServer
}

func (waitingService) Check(ctx context.Context, _ *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	_ = grpc.SetHeader(ctx, metadata.Pairs(process.UnreadyReasonHeader, "schema version 3, this build needs 4: run `wallet migrate`"))
	return &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_NOT_SERVING}, nil
}

// TestReadinessIsTheGatewayItself: with every service down, the readiness
// the probe asks (the admin port's /readyz) still answers 200 (regression:
// the probe fanned out to the services, so one service without a ready
// pod took every gateway replica out of the load balancer, and login and
// the Stripe webhook with it); the public /readyz says 503 without naming
// anything; each route whose service is down answers a 503 problem
// document; the dependency detail, with the reason a service gives, is on
// the admin port only.
func TestReadinessIsTheGatewayItself(t *testing.T) {
	t.Parallel()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.UnknownServiceHandler(func(any, grpc.ServerStream) error {
		return status.Error(codes.Unavailable, "schema version 3, this build needs 4: run `wallet migrate`")
	}))
	healthpb.RegisterHealthServer(srv, waitingService{})
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	cfg := testConfig(t) // identity and workflow: nothing listens
	cfg.WalletAddr = lis.Addr().String()
	keys := authtest.NewKeys(t)
	cfg.Keys = keys
	a := newApp(t, cfg)

	// The probe's readiness on the admin port is the gateway itself.
	if code, body := adminGet(t, a, SelfReadyPath); code != http.StatusOK || strings.TrimSpace(string(body)) != `{"status":"ok"}` {
		t.Fatalf("admin %s = %d %s, want 200 ok", SelfReadyPath, code, body)
	}
	// The public /readyz is the contract's (services and Redis reachable)
	// and names no dependency.
	resp, body := get(t, a, "/readyz", "")
	if resp.StatusCode != http.StatusServiceUnavailable || string(body) != `{"status":"unavailable"}` {
		t.Fatalf("/readyz = %d %s, want 503 unavailable", resp.StatusCode, body)
	}
	for _, route := range []struct{ method, path, body string }{
		{"POST", "/v1/auth/login", `{"email":"a@b.co","password":"password1"}`},
		{"GET", "/v1/wallet", ""},
		{"GET", "/v1/workflows", ""},
		{"POST", "/v1/webhooks/stripe", `{}`},
	} {
		req := httptest.NewRequest(route.method, route.path, strings.NewReader(route.body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+keys.AccessToken(t, "u1", false))
		req.Header.Set("Stripe-Signature", "t=1,v1=00")
		resp, err := a.Fiber().Test(req, -1)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") ||
			!strings.Contains(string(b), `"code":"service_unavailable"`) {
			t.Errorf("%s %s with its service down: %d %s", route.method, route.path, resp.StatusCode, b)
		}
	}

	code, body := adminGet(t, a, ReadyDetailPath)
	var detail struct {
		Status       string                `json:"status"`
		Dependencies map[string]dependency `json:"dependencies"`
	}
	if err := json.Unmarshal(body, &detail); err != nil {
		t.Fatal(err)
	}
	want := map[string]dependency{
		"identity": {Status: "down", Error: "unreachable"},
		"workflow": {Status: "down", Error: "unreachable"},
		"wallet":   {Status: "down", Error: "NOT_SERVING: schema version 3, this build needs 4: run `wallet migrate`"},
		"redis":    {Status: "up"},
	}
	if code != http.StatusServiceUnavailable || detail.Status != "unavailable" || len(detail.Dependencies) != len(want) {
		t.Fatalf("%s = %d %s", ReadyDetailPath, code, body)
	}
	for name, d := range want {
		if detail.Dependencies[name] != d {
			t.Errorf("%s: %+v, want %+v", name, detail.Dependencies[name], d)
		}
	}
	if resp, _ := get(t, a, ReadyDetailPath, ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("the detail is reachable on the public port: %d", resp.StatusCode)
	}
}
