package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/meterflow/meterflow/platform/process"
)

// TestHealthcheckAsksReadyz: the gateway's healthcheck is GET /readyz on
// HTTP_ADDR (a wildcard listen address dialed on loopback): 200 is healthy,
// the 503 of a gateway whose services are down is not.
func TestHealthcheckAsksReadyz(t *testing.T) {
	var status atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(int(status.Load()))
	}))
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	t.Setenv("APP_ENV", "development")
	t.Setenv("HTTP_ADDR", "0.0.0.0:"+port)
	for _, tc := range []struct {
		status   int
		wantCode int
	}{
		{http.StatusOK, process.ExitOK},
		{http.StatusServiceUnavailable, process.ExitFailure},
	} {
		status.Store(int32(tc.status))
		var stderr bytes.Buffer
		if code := process.Run(context.Background(), gateway, []string{"healthcheck"}, process.Stdio{Out: &bytes.Buffer{}, Err: &stderr}); code != tc.wantCode {
			t.Errorf("/readyz %d: exit %d, want %d (stderr %q)", tc.status, code, tc.wantCode, stderr.String())
		}
		if tc.wantCode != process.ExitOK && !strings.Contains(stderr.String(), "GET /readyz answered 503") {
			t.Errorf("stderr %q", stderr.String())
		}
	}
}
