//go:build drills

package drills

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	gateway "github.com/meterflow/meterflow/gateway/app"
)

// readyDetail asks the gateway's admin port for the state of each
// dependency (gateway.ReadyDetailPath).
func (s *stack) readyDetail(t testing.TB) (int, map[string]any) {
	t.Helper()
	rec := httptest.NewRecorder()
	s.gateway.AdminHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, gateway.ReadyDetailPath, nil))
	var m map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Errorf("%s: %v: %s", gateway.ReadyDetailPath, err, rec.Body.String())
	}
	return rec.Code, m
}
