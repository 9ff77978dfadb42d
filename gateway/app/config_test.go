package app

import (
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
