//go:build drills

package drills

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	e2e "github.com/meterflow/meterflow/e2e/stack"
	gateway "github.com/meterflow/meterflow/gateway/app"
	"github.com/meterflow/meterflow/platform/database"
	"github.com/meterflow/meterflow/platform/database/dbtest"
	"github.com/meterflow/meterflow/platform/envconfig"
	identitymigrations "github.com/meterflow/meterflow/services/identity/migrations"
	walletmigrations "github.com/meterflow/meterflow/services/wallet/migrations"
	"github.com/meterflow/meterflow/services/wallet/stripemocktest"
	workflowmigrations "github.com/meterflow/meterflow/services/workflow/migrations"
)

// TestOldSchemaDrill: new code started against an old schema is refused,
// clearly. Each service's binary starts on a database one migration
// behind its build (as when its migrations did not run): it does not
// serve — its health check answers NOT_SERVING, every call through the
// gateway is a 503 problem document, nothing runs on the old schema —
// and it says why, with both versions and the command that fixes it, in
// its log, on its health check, in `healthcheck` and in the gateway's
// /readyz/detail on the admin port, while the gateway itself stays ready.
// Once `migrate` has run (with DATABASE_URL alone, no secrets), each
// service starts by itself.
func TestOldSchemaDrill(t *testing.T) {
	bins := allBinaries(t)
	logDir := t.TempDir()
	ctx := context.Background()
	common := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "APP_ENV=development", "LOG_LEVEL=info",
		"INTERNAL_AUTH_SECRET=" + secret, "METRICS_ADDR=", "SHUTDOWN_GRACE=2s",
		"IDENTITY_ADDR=127.0.0.1:1", "WALLET_ADDR=127.0.0.1:1",
	}
	services := []struct {
		name  string
		fs    fs.FS
		extra []string
	}{
		{"identity", identitymigrations.FS, nil},
		{"wallet", walletmigrations.FS, []string{"STRIPE_SECRET_KEY=sk_test_123", "STRIPE_WEBHOOK_SECRET=" + webhookSecret, "STRIPE_API_BASE=" + stripemocktest.Start(t)}},
		{"workflow", workflowmigrations.FS, []string{"WORKFLOW_ALLOW_PRIVATE=true"}},
	}
	addrs, urls, reasons, procs := map[string]string{}, map[string]string{}, map[string]string{}, map[string]*e2e.Proc{}
	for _, svc := range services {
		newest, err := database.NewestMigration(svc.fs)
		if err != nil {
			t.Fatal(err)
		}
		_, urls[svc.name] = dbtest.New(t, dbtest.UpTo(svc.fs, newest-1))
		addrs[svc.name] = freeAddr(t)
		reasons[svc.name] = fmt.Sprintf("schema version %d, this build needs %d: run `%s migrate`", newest-1, newest, svc.name)
		env := append(append(common[:len(common):len(common)], svc.extra...), "DATABASE_URL="+urls[svc.name], "GRPC_ADDR="+addrs[svc.name])
		procs[svc.name] = startInstance(t, svc.name, filepath.Join(bins, svc.name), addrs[svc.name], logDir, env)
	}

	// Each says why on its health check, and keeps running (no crash loop).
	for _, svc := range services {
		var got string
		eventually(t, 30*time.Second, svc.name+" answers NOT_SERVING with the reason", func() bool {
			st, reason, err := healthOf(addrs[svc.name])
			got = fmt.Sprintf("%v %q %v", st, reason, err)
			return err == nil && st == healthpb.HealthCheckResponse_NOT_SERVING && reason == reasons[svc.name]
		})
		if procs[svc.name].Exited() {
			t.Fatalf("%s exited instead of waiting (%s)", svc.name, got)
		}
		cmd := exec.Command(filepath.Join(bins, svc.name), "healthcheck")
		cmd.Env = append(common[:len(common):len(common)], "GRPC_ADDR="+addrs[svc.name])
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "NOT_SERVING: "+reasons[svc.name]) {
			t.Errorf("%s healthcheck: %v %s", svc.name, err, out)
		}
		logs, _ := os.ReadFile(procs[svc.name].LogPath)
		if line := lineWith(string(logs), `"level":"ERROR"`); !strings.Contains(line, jsonQuoted(reasons[svc.name])) {
			t.Errorf("%s's log does not say why it waits:\n%s", svc.name, tail(logs, 2048))
		}
	}

	// The gateway's view: ready itself, each route of a waiting service a
	// 503 problem document, the reasons on the admin port.
	gw, err := gateway.New(ctx, gateway.Config{
		Common:       envconfig.Common{Env: "development", InternalAuthSecret: []byte(secret), JWTIssuer: "meterflow-identity", JWTAudience: "meterflow-api"},
		IdentityAddr: addrs["identity"], WalletAddr: addrs["wallet"], WorkflowAddr: addrs["workflow"], NotifyAddr: "127.0.0.1:1",
		RedisURL: e2e.RedisURL(), RateLimitPrefix: "drills:" + e2e.RandomHex() + ":", AuthPerMinute: 1000, RunsPerMinute: 1000, APIPerMinute: 1000,
		TokenCacheSize: 100, CallTimeout: 3 * time.Second, RunTimeout: 5 * time.Second,
		ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second, IdleTimeout: 5 * time.Second,
	}, logger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gw.Close)
	// The gateway itself stays ready (the probe's readiness on its admin
	// port); its public /readyz says a dependency is down.
	if code, _ := adminJSON(t, gw.AdminHandler(), gateway.SelfReadyPath); code != 200 {
		t.Errorf("the gateway's own readiness: %d", code)
	}
	if resp := fiberDo(t, gw, "GET", "/readyz", ""); resp.StatusCode != 503 {
		t.Errorf("the gateway's public /readyz with the wallet on an old schema: %d", resp.StatusCode)
	}
	signup := fiberDo(t, gw, "POST", "/v1/auth/signup", `{"email":"old-schema@example.com","password":"password-1"}`)
	if body, _ := io.ReadAll(signup.Body); signup.StatusCode != 503 || !strings.Contains(string(body), `"code":"service_unavailable"`) {
		t.Errorf("signup while identity waits: %d %s", signup.StatusCode, body)
	}
	rec := httptest.NewRecorder()
	gw.AdminHandler().ServeHTTP(rec, httptest.NewRequest("GET", gateway.ReadyDetailPath, nil))
	var detail struct {
		Status       string `json:"status"`
		Dependencies map[string]struct{ Status, Error string }
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &detail); err != nil || rec.Code != 503 {
		t.Fatalf("%s: %d %s", gateway.ReadyDetailPath, rec.Code, rec.Body)
	}
	for _, svc := range services {
		if d := detail.Dependencies[svc.name]; d.Status != "down" || d.Error != "NOT_SERVING: "+reasons[svc.name] {
			t.Errorf("the gateway's view of %s: %+v, want the reason %q", svc.name, d, reasons[svc.name])
		}
	}

	// migrate, as the init container runs it: production, DATABASE_URL
	// alone. Each waiting service then starts on its own.
	for _, svc := range services {
		cmd := exec.Command(filepath.Join(bins, svc.name), "migrate")
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "APP_ENV=production", "DATABASE_URL=" + urls[svc.name]}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s migrate: %v\n%s", svc.name, err, out)
		}
	}
	for _, svc := range services {
		eventually(t, 30*time.Second, svc.name+" serves once migrated", func() bool {
			st, _, err := healthOf(addrs[svc.name])
			return err == nil && st == healthpb.HealthCheckResponse_SERVING
		})
	}
	rec = httptest.NewRecorder()
	gw.AdminHandler().ServeHTTP(rec, httptest.NewRequest("GET", gateway.ReadyDetailPath, nil))
	if rec.Code != 200 {
		t.Errorf("%s after migrate: %d %s", gateway.ReadyDetailPath, rec.Code, rec.Body)
	}
}

// fiberDo sends one request to the gateway's HTTP app.
func fiberDo(t testing.TB, gw *gateway.App, method, path, body string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := gw.Fiber().Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = resp.Body.Close() })
	return resp
}

// lineWith returns the first line of text that contains sub.
func lineWith(text, sub string) string {
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, sub) {
			return l
		}
	}
	return ""
}

// jsonQuoted is s as it appears inside a JSON string.
func jsonQuoted(s string) string {
	b, _ := json.Marshal(s)
	return strings.Trim(string(b), `"`)
}
