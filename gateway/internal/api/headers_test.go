package api

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
)

func TestCORS(t *testing.T) {
	t.Parallel()
	none := setup(t, setupOpts{})
	req := newReq(http.MethodGet, "/healthz", "")
	req.Header.Set("Origin", "https://evil.example")
	resp, _ := none.do(t, req)
	if resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatal("CORS allowed with no origins configured")
	}

	b := setup(t, setupOpts{cors: []string{"https://app.example"}})
	pre := newReq(http.MethodOptions, "/v1/me", "")
	pre.Header.Set("Origin", "https://app.example")
	pre.Header.Set("Access-Control-Request-Method", "GET")
	pre.Header.Set("Access-Control-Request-Headers", "authorization")
	resp, _ = b.do(t, pre)
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example" {
		t.Fatalf("preflight: %d %v", resp.StatusCode, resp.Header)
	}
	req = newReq(http.MethodGet, "/healthz", "")
	req.Header.Set("Origin", "https://evil.example")
	resp, _ = b.do(t, req)
	if resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatal("CORS allowed an unlisted origin")
	}
}

func TestHSTSWhenConfigured(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{hsts: 31536000})
	resp, _ := b.do(t, newReq(http.MethodGet, "/healthz", ""))
	if got := resp.Header.Get("Strict-Transport-Security"); got != "max-age=31536000; includeSubDomains" {
		t.Fatalf("HSTS = %q", got)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestAccessLog: one line per request with method, route, status, duration
// and request id, and neither the token nor the body.
func TestAccessLog(t *testing.T) {
	t.Parallel()
	var buf syncBuffer
	b := setup(t, setupOpts{log: slog.New(slog.NewJSONHandler(&buf, nil))})
	tok := b.keys.test.AccessToken(t, "user-9", false)
	req := withToken(newReq(http.MethodGet, "/v1/me", ""), tok)
	req.Header.Set("X-Request-ID", "log-test-1")
	b.do(t, req)
	login := newReq(http.MethodPost, "/v1/auth/login", `{"email":"a@example.com","password":"hunter2-secret"}`)
	b.do(t, login)

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 access log lines, got %d:\n%s", len(lines), buf.String())
	}
	var first map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{"method": "GET", "route": "/v1/me", "status": 200.0, "request_id": "log-test-1", "user_id": "user-9"} {
		if first[k] != want {
			t.Errorf("%s = %v, want %v", k, first[k], want)
		}
	}
	if _, ok := first["duration_ms"]; !ok {
		t.Error("duration_ms missing")
	}
	if strings.Contains(buf.String(), tok) || strings.Contains(buf.String(), "hunter2-secret") {
		t.Fatal("a token or a body reached the log")
	}
}
