package app_test

import (
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/meterflow/meterflow/platform/callauth"
	"github.com/meterflow/meterflow/services/identity/app"
)

// These tests set environment variables, so they cannot run in parallel.

func TestConfigFromEnvDefaults(t *testing.T) {
	for _, name := range []string{"INTERNAL_AUTH_SECRET", "JWT_SIGNING_KEY_FILE", "ACCESS_TOKEN_TTL", "ARGON2_MEMORY_KIB", "METRICS_ADDR"} {
		t.Setenv(name, "")
	}
	t.Setenv("APP_ENV", "development")
	cfg, err := app.ConfigFromEnv()
	if err != nil {
		t.Fatalf("ConfigFromEnv: %v", err)
	}
	if cfg.Production() || cfg.AccessTokenTTL != 15*time.Minute || cfg.RefreshTokenTTL != 720*time.Hour ||
		cfg.Argon2 != app.DefaultArgon2Params || cfg.GRPCAddr != "127.0.0.1:50051" || len(cfg.InternalAuthSecret) < 32 ||
		cfg.SigningKey != nil || cfg.JWTIssuer != "meterflow-identity" || cfg.JWTAudience != "meterflow-api" {
		t.Fatalf("defaults = %+v", cfg)
	}
	if app.DefaultArgon2Params != (app.Argon2Params{MemoryKiB: 19456, Iterations: 2, Parallelism: 1}) {
		t.Fatalf("DefaultArgon2Params = %+v", app.DefaultArgon2Params)
	}
}

func TestConfigFromEnvProductionNeedsSecrets(t *testing.T) {
	// Production is the default: only an explicit APP_ENV=development takes
	// development defaults.
	t.Setenv("APP_ENV", "")
	t.Setenv("INTERNAL_AUTH_SECRET", "")
	t.Setenv("JWT_SIGNING_KEY_FILE", "")
	t.Setenv("PUBLIC_BASE_URL", "")
	_, err := app.ConfigFromEnv()
	if err == nil || !strings.Contains(err.Error(), "INTERNAL_AUTH_SECRET") || !strings.Contains(err.Error(), "JWT_SIGNING_KEY_FILE") {
		t.Fatalf("err = %v, want both secrets named", err)
	}

	key := filepath.Join(t.TempDir(), "key.pem")
	if _, err := app.GenerateKeyFile(key); err != nil {
		t.Fatal(err)
	}
	t.Setenv("INTERNAL_AUTH_SECRET", strings.Repeat("s", 32))
	t.Setenv("JWT_SIGNING_KEY_FILE", key)
	t.Setenv("ARGON2_MEMORY_KIB", "65536")
	if _, err := app.ConfigFromEnv(); err == nil || !strings.Contains(err.Error(), "PUBLIC_BASE_URL is required in production") {
		t.Fatalf("err = %v, want PUBLIC_BASE_URL required", err)
	}
	// Links with tokens travel over https only.
	t.Setenv("PUBLIC_BASE_URL", "http://meterflow.example.com")
	if _, err := app.ConfigFromEnv(); err == nil || !strings.Contains(err.Error(), "must be https in production") {
		t.Fatalf("err = %v, want an http PUBLIC_BASE_URL refused in production", err)
	}
	t.Setenv("PUBLIC_BASE_URL", "https://meterflow.example.com")
	cfg, err := app.ConfigFromEnv()
	if err != nil || cfg.SigningKey == nil || cfg.Argon2.MemoryKiB != 65536 || !cfg.Production() || cfg.PublicBaseURL != "https://meterflow.example.com" || cfg.NotifyAddr != "127.0.0.1:50054" {
		t.Fatalf("ConfigFromEnv = %+v, %v", cfg, err)
	}
	// Identity accepted the development service-token secret in production.
	t.Setenv("INTERNAL_AUTH_SECRET", callauth.DevInternalAuthSecret)
	if _, err := app.ConfigFromEnv(); err == nil || !strings.Contains(err.Error(), "INTERNAL_AUTH_SECRET must not be the development value") {
		t.Fatalf("err = %v, want the development secret refused", err)
	}
}

func TestConfigFromEnvRejectsBadValues(t *testing.T) {
	tests := []struct{ name, value string }{
		{"ACCESS_TOKEN_TTL", "soon"},
		{"REFRESH_TOKEN_TTL", "-1h"},
		{"ARGON2_ITERATIONS", "0"},
		{"ARGON2_PARALLELISM", "300"},
		{"INTERNAL_AUTH_SECRET", "short"},
		{"JWT_SIGNING_KEY_FILE", "/nonexistent/key.pem"},
		{"APP_ENV", "staging"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("APP_ENV", "development")
			t.Setenv(tt.name, tt.value)
			if _, err := app.ConfigFromEnv(); err == nil || !strings.Contains(err.Error(), tt.name) {
				t.Fatalf("%s=%q: err = %v", tt.name, tt.value, err)
			}
		})
	}
}

func TestConfigFromEnvHashConcurrency(t *testing.T) {
	t.Setenv("APP_ENV", "development")
	t.Setenv("ARGON2_MAX_CONCURRENT", "")
	cfg, err := app.ConfigFromEnv()
	if err != nil || cfg.HashConcurrency != runtime.GOMAXPROCS(0) {
		t.Fatalf("default = %d, %v; want GOMAXPROCS %d", cfg.HashConcurrency, err, runtime.GOMAXPROCS(0))
	}
	t.Setenv("ARGON2_MAX_CONCURRENT", "3")
	if cfg, err := app.ConfigFromEnv(); err != nil || cfg.HashConcurrency != 3 {
		t.Fatalf("ARGON2_MAX_CONCURRENT=3: %d, %v", cfg.HashConcurrency, err)
	}
	for _, bad := range []string{"0", "-1", "many"} {
		t.Setenv("ARGON2_MAX_CONCURRENT", bad)
		if _, err := app.ConfigFromEnv(); err == nil || !strings.Contains(err.Error(), "ARGON2_MAX_CONCURRENT") {
			t.Fatalf("ARGON2_MAX_CONCURRENT=%q: err = %v", bad, err)
		}
	}
}

// TestUnsetEnvironmentIsProduction: a Config without APP_ENV fails closed,
// as envconfig.Common says (identity's own Production once said otherwise).
func TestUnsetEnvironmentIsProduction(t *testing.T) {
	t.Parallel()
	if !(app.Config{}).Production() {
		t.Error("a Config without APP_ENV is not production: development defaults would pass")
	}
}
