package app

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/meterflow/meterflow/gateway/console"
	"github.com/meterflow/meterflow/platform/callauth"
	"github.com/meterflow/meterflow/platform/callauth/authtest"
	"github.com/meterflow/meterflow/platform/envconfig"
)

func testConfig(t *testing.T) Config {
	t.Helper()
	redisURL := os.Getenv("TEST_REDIS_URL")
	if redisURL == "" {
		redisURL = "redis://127.0.0.1:6379/0"
	}
	return Config{
		Common:          envconfig.Common{Env: "development", InternalAuthSecret: []byte(authtest.Secret), JWTIssuer: authtest.Issuer, JWTAudience: authtest.Audience},
		IdentityAddr:    "127.0.0.1:1", // nothing listens: services are down
		WalletAddr:      "127.0.0.1:1",
		WorkflowAddr:    "127.0.0.1:1",
		NotifyAddr:      "127.0.0.1:1",
		RedisURL:        redisURL,
		RateLimitPrefix: "test:gateway:app:" + t.Name() + ":" + time.Now().Format(time.RFC3339Nano) + ":",
		AuthPerMinute:   20,
		RunsPerMinute:   10,
		APIPerMinute:    600,
		TokenCacheSize:  100,
		CallTimeout:     2 * time.Second,
	}
}

func newApp(t *testing.T, cfg Config) *App {
	t.Helper()
	a, err := New(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	return a
}

func get(t *testing.T, a *App, path, token string) (*http.Response, []byte) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := a.Fiber().Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

// TestOpenAPIDescribesEveryRoute checks the document and the router agree
// both ways, and that every $ref in the document resolves.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	t.Parallel()
	a := newApp(t, testConfig(t))
	_, body := get(t, a, "/openapi.json", "")
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	if doc["openapi"] != "3.1.0" {
		t.Fatalf("openapi = %v", doc["openapi"])
	}
	var documented []string
	for path, item := range doc["paths"].(map[string]any) {
		for method := range item.(map[string]any) {
			switch method {
			case "get", "post", "patch", "put", "delete":
				documented = append(documented, strings.ToUpper(method)+" "+path)
			}
		}
	}
	var routes []string
	for _, r := range a.Routes() {
		// The operators' console (/admin) and the portal (/app), HTML pages,
		// are not part of the JSON API.
		if _, path, _ := strings.Cut(r, " "); path == "/admin" || strings.HasPrefix(path, "/admin/") || strings.HasPrefix(path, "/app/") {
			continue
		}
		routes = append(routes, r)
	}
	sort.Strings(documented)
	sort.Strings(routes)
	for _, r := range routes {
		if !slices.Contains(documented, r) {
			t.Errorf("route %s is not in the OpenAPI document", r)
		}
	}
	for _, d := range documented {
		if !slices.Contains(routes, d) {
			t.Errorf("OpenAPI documents %s, which the gateway does not serve", d)
		}
	}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if ref, ok := x["$ref"].(string); ok {
				if !resolves(doc, ref) {
					t.Errorf("$ref %s does not resolve", ref)
				}
			}
			for _, c := range x {
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	walk(doc)
}

func resolves(doc map[string]any, ref string) bool {
	cur := any(doc)
	for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
		m, ok := cur.(map[string]any)
		if !ok {
			return false
		}
		if cur, ok = m[part]; !ok {
			return false
		}
	}
	return true
}

func TestServiceDownIs503Quickly(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	keys := authtest.NewKeys(t)
	cfg.Keys = keys
	a := newApp(t, cfg)
	resp, body := get(t, a, "/v1/me", keys.AccessToken(t, "u1", false))
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), `"code":"service_unavailable"`) {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if strings.Contains(string(body), "127.0.0.1") || strings.Contains(string(body), "connection refused") {
		t.Errorf("internals leaked: %s", body)
	}

	// The dependency detail, on the admin port: the services are down.
	code, body := adminGet(t, a, ReadyDetailPath)
	if code != http.StatusServiceUnavailable {
		t.Fatalf("%s %d: %s", ReadyDetailPath, code, body)
	}
	var ready struct {
		Status       string                       `json:"status"`
		Dependencies map[string]map[string]string `json:"dependencies"`
	}
	if err := json.Unmarshal(body, &ready); err != nil {
		t.Fatal(err)
	}
	if ready.Status != "unavailable" || ready.Dependencies["identity"]["status"] != "down" || ready.Dependencies["redis"]["status"] != "up" {
		t.Fatalf("readiness = %s", body)
	}
	if resp, _ := get(t, a, "/healthz", ""); resp.StatusCode != 200 {
		t.Fatalf("/healthz %d", resp.StatusCode)
	}
}

func TestRedisDownIsReportedNotFatal(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.RedisURL = "redis://127.0.0.1:1/0"
	a := newApp(t, cfg)
	// The services are down too here, so the public /readyz (the contract's:
	// services and Redis) says unavailable; the gateway itself, what the
	// readiness probe asks on the admin port, is ready though degraded.
	if resp, body := get(t, a, "/readyz", ""); resp.StatusCode != http.StatusServiceUnavailable || string(body) != `{"status":"unavailable"}` {
		t.Fatalf("/readyz with Redis and the services down: %d %s", resp.StatusCode, body)
	}
	if code, body := adminGet(t, a, SelfReadyPath); code != http.StatusOK || strings.TrimSpace(string(body)) != `{"status":"degraded"}` {
		t.Fatalf("admin %s with Redis down: %d %s", SelfReadyPath, code, body)
	}
	if _, body := adminGet(t, a, ReadyDetailPath); !strings.Contains(string(body), `"redis":{"status":"down"`) {
		t.Fatalf("the readiness detail does not report Redis: %s", body)
	}
	// Auth routes still answer (here 503 from the missing identity), limited
	// by the fallback: the budget of 2 is spent, the third is 429.
	cfg.AuthPerMinute = 2
	a = newApp(t, cfg)
	var last *http.Response
	for range 3 {
		req := httptest.NewRequest(http.MethodPost, "/v1/auth/login", strings.NewReader(`{"email":"a@b.co","password":"password1"}`))
		req.Header.Set("Content-Type", "application/json")
		resp, err := a.Fiber().Test(req, -1)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		last = resp
	}
	if last.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("third login = %d, want 429 from the fallback limiter", last.StatusCode)
	}
	if !a.FallbackActive() {
		t.Fatal("fallback not reported")
	}
	rec := httptest.NewRecorder()
	a.AdminHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	m := rec.Body.String()
	for _, want := range []string{
		"gateway_ratelimit_fallback_active 1",
		`gateway_ratelimit_fallback_total{class="auth"} 3`,
		`gateway_ratelimit_rejections_total{class="auth"} 1`,
		`gateway_http_requests_total{method="POST",route="/v1/auth/login",status="429"} 1`,
		"gateway_http_request_duration_seconds_bucket",
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func TestDocsPage(t *testing.T) {
	t.Parallel()
	a := newApp(t, testConfig(t))
	resp, body := get(t, a, "/docs", "")
	if resp.StatusCode != 200 || !strings.Contains(string(body), "/docs/swagger-ui-bundle.js") {
		t.Fatalf("/docs %d: %s", resp.StatusCode, body)
	}
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline'; img") && strings.Contains(csp, "script-src 'self' 'unsafe-inline'") {
		t.Fatalf("docs CSP = %q", csp)
	}
	if strings.Contains(string(body), "<script>") {
		t.Fatal("inline script on the docs page")
	}
	for _, asset := range []string{"/docs/swagger-ui-bundle.js", "/docs/swagger-ui.css", "/docs/init.js"} {
		resp, body := get(t, a, asset, "")
		if resp.StatusCode != 200 || len(body) < 100 {
			t.Fatalf("%s: %d, %d bytes", asset, resp.StatusCode, len(body))
		}
	}
	if resp, _ := get(t, a, "/docs/../../etc/passwd", ""); resp.StatusCode != 404 {
		t.Fatalf("path traversal answered %d", resp.StatusCode)
	}
}

func TestConfigFromEnvProduction(t *testing.T) {
	t.Setenv("APP_ENV", "production")
	t.Setenv("INTERNAL_AUTH_SECRET", "")
	if _, err := ConfigFromEnv(); err == nil {
		t.Fatal("production without INTERNAL_AUTH_SECRET must fail")
	}
	t.Setenv("INTERNAL_AUTH_SECRET", callauth.DevInternalAuthSecret)
	if _, err := ConfigFromEnv(); err == nil {
		t.Fatal("production with the development secret must fail")
	}
	t.Setenv("INTERNAL_AUTH_SECRET", strings.Repeat("s", 40))
	t.Setenv("SESSION_ENCRYPTION_KEY", testSessionKey)
	cfg, err := ConfigFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HSTSMaxAge == 0 {
		t.Error("HSTS off by default in production")
	}
	t.Setenv("RATE_LIMIT_RUNS_PER_MINUTE", "ten")
	if _, err := ConfigFromEnv(); err == nil {
		t.Fatal("a malformed limit must fail")
	}
}

// testSessionKey is a SESSION_ENCRYPTION_KEY that is not the development one.
const testSessionKey = "dGVzdC1zZXNzaW9uLWtleS0wMTIzNDU2Nzg5YWJjZGU="

// TestConfigFromEnvSessionKey: production refuses to start without its own
// console session key; development falls back to the published one.
func TestConfigFromEnvSessionKey(t *testing.T) {
	t.Setenv("APP_ENV", "production")
	t.Setenv("INTERNAL_AUTH_SECRET", strings.Repeat("s", 40))
	for _, bad := range []string{"", console.DevSessionKeyBase64, "c2hvcnQ=", "not base64!"} {
		t.Setenv("SESSION_ENCRYPTION_KEY", bad)
		if _, err := ConfigFromEnv(); err == nil || !strings.Contains(err.Error(), "SESSION_ENCRYPTION_KEY") {
			t.Fatalf("production with SESSION_ENCRYPTION_KEY=%q: err = %v", bad, err)
		}
	}
	t.Setenv("SESSION_ENCRYPTION_KEY", testSessionKey)
	if cfg, err := ConfigFromEnv(); err != nil || len(cfg.Console.SessionKey) != 32 {
		t.Fatalf("production with a key: %v", err)
	}
	t.Setenv("APP_ENV", "development")
	t.Setenv("SESSION_ENCRYPTION_KEY", "")
	cfg, err := ConfigFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("development without a key: %v", err)
	}
	a.Close()
}

func TestConfigFromEnvDefaults(t *testing.T) {
	t.Setenv("APP_ENV", "development")
	t.Setenv("CORS_ALLOWED_ORIGINS", "https://a.example, https://b.example")
	cfg, err := ConfigFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.AuthPerMinute != 20 || cfg.RunsPerMinute != 10 || cfg.APIPerMinute != 600 || cfg.TopUpsPerMinute != 5 || cfg.HSTSMaxAge != 0 ||
		len(cfg.CORSAllowedOrigins) != 2 || cfg.IdentityAddr != "127.0.0.1:50051" {
		t.Fatalf("defaults = %+v", cfg)
	}
}
