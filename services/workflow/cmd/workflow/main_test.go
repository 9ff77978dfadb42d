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

	"github.com/meterflow/meterflow/platform/database/dbtest"
	"github.com/meterflow/meterflow/platform/process"
	"github.com/meterflow/meterflow/services/workflow/app"
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

// TestMigrateNeedsNoSecrets: migrate (the service's migrations and
// River's) runs in production with DATABASE_URL alone (regression: it
// refused to run without INTERNAL_AUTH_SECRET and WORKFLOW_SECRETS_KEY);
// serve still refuses to start without them. Not parallel: t.Setenv.
func TestMigrateNeedsNoSecrets(t *testing.T) {
	_, url := dbtest.New(t, nil)
	t.Setenv("APP_ENV", "production")
	t.Setenv("DATABASE_URL", url)
	t.Setenv("INTERNAL_AUTH_SECRET", "")
	t.Setenv("WORKFLOW_SECRETS_KEY", "")
	var stderr bytes.Buffer
	if code := process.Run(context.Background(), workflow, []string{"migrate"}, process.Stdio{Out: &bytes.Buffer{}, Err: &stderr}); code != process.ExitOK {
		t.Fatalf("migrate: exit %d, stderr %q", code, stderr.String())
	}
	if behind, err := app.SchemaCheck(context.Background(), app.Config{DatabaseURL: url}); behind != "" || err != nil {
		t.Fatalf("after migrate: %q, %v", behind, err)
	}
	stderr.Reset()
	if code := process.Run(context.Background(), workflow, []string{"serve"}, process.Stdio{Out: &bytes.Buffer{}, Err: &stderr}); code != process.ExitFailure || !strings.Contains(stderr.String(), "WORKFLOW_SECRETS_KEY is required in production") {
		t.Errorf("serve without secrets: exit %d, stderr %q", code, stderr.String())
	}
}
