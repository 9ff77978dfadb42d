package main

import (
	"bytes"
	"context"
	"net"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/meterflow/meterflow/platform/process"
)

// TestHealthcheckDialsTheConfiguredAddress: healthcheck asks GRPC_ADDR as
// the configuration reads it, a wildcard listen address on loopback.
func TestHealthcheckDialsTheConfiguredAddress(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	hs := health.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	_, port, _ := net.SplitHostPort(lis.Addr().String())

	t.Setenv("APP_ENV", "development")
	t.Setenv("GRPC_ADDR", "0.0.0.0:"+port)
	for _, tc := range []struct {
		status   healthpb.HealthCheckResponse_ServingStatus
		wantCode int
	}{
		{healthpb.HealthCheckResponse_SERVING, process.ExitOK},
		{healthpb.HealthCheckResponse_NOT_SERVING, process.ExitFailure}, // draining
	} {
		hs.SetServingStatus("", tc.status)
		var stderr bytes.Buffer
		if code := process.Run(context.Background(), workflow, []string{"healthcheck"}, process.Stdio{Out: &bytes.Buffer{}, Err: &stderr}); code != tc.wantCode {
			t.Errorf("%s: exit %d, want %d (stderr %q)", tc.status, code, tc.wantCode, stderr.String())
		}
		if tc.wantCode != process.ExitOK && !strings.HasPrefix(stderr.String(), "workflow healthcheck: healthcheck 127.0.0.1:"+port+": NOT_SERVING") {
			t.Errorf("stderr %q", stderr.String())
		}
	}
}
