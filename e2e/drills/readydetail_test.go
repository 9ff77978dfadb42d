//go:build drills

package drills

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	gateway "github.com/meterflow/meterflow/gateway/app"
)

// selfReady asks the gateway's admin port for its own readiness (what the
// Kubernetes readiness probe asks: gateway.SelfReadyPath).
func (s *stack) selfReady(t testing.TB) (int, map[string]any) {
	t.Helper()
	return adminJSON(t, s.gateway.AdminHandler(), gateway.SelfReadyPath)
}

// adminJSON GETs path from an admin handler and decodes its JSON.
func adminJSON(t testing.TB, h http.Handler, path string) (int, map[string]any) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	var m map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Errorf("%s: %v: %s", path, err, rec.Body.String())
	}
	return rec.Code, m
}

// readyDetail asks the gateway's admin port for the state of each
// dependency (gateway.ReadyDetailPath).
func (s *stack) readyDetail(t testing.TB) (int, map[string]any) {
	t.Helper()
	return adminJSON(t, s.gateway.AdminHandler(), gateway.ReadyDetailPath)
}
