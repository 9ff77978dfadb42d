package telemetry_test

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/meterflow/meterflow/platform/telemetry"
)

// TestBuildInfo: every registry carries meterflow_build_info with the
// stamped version and commit (the defaults here: tests are not stamped).
func TestBuildInfo(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	telemetry.MetricsHandler(telemetry.NewRegistry()).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	want := `meterflow_build_info{commit="unknown",version="dev"} 1`
	if !strings.Contains(rec.Body.String(), want) {
		t.Fatalf("/metrics lacks %s", want)
	}
	if got := telemetry.BuildString(); got != "dev (commit unknown)" {
		t.Errorf("BuildString = %q", got)
	}
}
