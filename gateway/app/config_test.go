package app

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"
)

// TestConfigCommonSettings: the gateway takes the settings every process
// shares from envconfig.Common, as the services do. A field of its own once
// hid SHUTDOWN_GRACE (the gateway always drained for 10 s), and its own
// Production made a Config without APP_ENV development.
func TestConfigCommonSettings(t *testing.T) {
	t.Setenv("APP_ENV", "development")
	t.Setenv("SHUTDOWN_GRACE", "3s")
	cfg, err := ConfigFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ShutdownGrace != 3*time.Second || cfg.Grace() != 3*time.Second {
		t.Errorf("SHUTDOWN_GRACE=3s: ShutdownGrace %s, Grace() %s", cfg.ShutdownGrace, cfg.Grace())
	}
	if !(Config{}).Production() {
		t.Error("a Config without APP_ENV is not production: development defaults would pass")
	}
}

// TestRequireVerifiedEmailDefault: REQUIRE_VERIFIED_EMAIL is on in
// production and off in development unless set; the emails limit reads
// RATE_LIMIT_EMAILS_PER_HOUR (default 5).
func TestRequireVerifiedEmailDefault(t *testing.T) {
	t.Setenv("APP_ENV", "development")
	cfg, err := ConfigFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.RequireVerifiedEmail || cfg.EmailsPerHour != 5 {
		t.Errorf("development: RequireVerifiedEmail %v, EmailsPerHour %d; want false, 5", cfg.RequireVerifiedEmail, cfg.EmailsPerHour)
	}
	t.Setenv("REQUIRE_VERIFIED_EMAIL", "true")
	t.Setenv("RATE_LIMIT_EMAILS_PER_HOUR", "3")
	if cfg, err = ConfigFromEnv(); err != nil || !cfg.RequireVerifiedEmail || cfg.EmailsPerHour != 3 {
		t.Errorf("set: %+v, %v", cfg.RequireVerifiedEmail, err)
	}
	t.Setenv("REQUIRE_VERIFIED_EMAIL", "maybe")
	if _, err := ConfigFromEnv(); err == nil {
		t.Error("REQUIRE_VERIFIED_EMAIL=maybe accepted")
	}
	t.Setenv("APP_ENV", "production")
	t.Setenv("PUBLIC_BASE_URL", "https://api.example.com")
	t.Setenv("REQUIRE_VERIFIED_EMAIL", "")
	t.Setenv("INTERNAL_AUTH_SECRET", strings.Repeat("s", 32))
	t.Setenv("SESSION_ENCRYPTION_KEY", base64.StdEncoding.EncodeToString([]byte(strings.Repeat("k", 32))))
	if cfg, err := ConfigFromEnv(); err != nil || !cfg.RequireVerifiedEmail {
		t.Errorf("production: RequireVerifiedEmail %v, %v; want true", cfg.RequireVerifiedEmail, err)
	}
}
