package console

import (
	"bytes"
	"testing"
	"time"
)

// TestConfigFromEnv reads the console's variables through envconfig, so it
// sets the process environment: not parallel.
func TestConfigFromEnv(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     map[string]string
		want    Config
		wantErr bool
	}{
		{"defaults", nil, Config{CookieSecure: true, SessionTTL: 8 * time.Hour, IdleTimeout: 30 * time.Minute, LoginPerMinute: 10}, false},
		{"localhost", map[string]string{"COOKIE_SECURE": "false", "CONSOLE_SESSION_TTL": "30m", "CONSOLE_IDLE_TIMEOUT": "10m", "CONSOLE_LOGIN_PER_MINUTE": "5", "SESSION_ENCRYPTION_KEY": DevSessionKeyBase64},
			Config{CookieSecure: false, SessionTTL: 30 * time.Minute, IdleTimeout: 10 * time.Minute, LoginPerMinute: 5, SessionKey: DevSessionKey()}, false},
		{"short idle timeout", map[string]string{"CONSOLE_IDLE_TIMEOUT": "30s"}, Config{}, true},
		{"short session key", map[string]string{"SESSION_ENCRYPTION_KEY": "c2hvcnQ="}, Config{}, true},
		{"bad bool", map[string]string{"COOKIE_SECURE": "maybe"}, Config{}, true},
		{"short ttl", map[string]string{"CONSOLE_SESSION_TTL": "5s"}, Config{}, true},
		{"bad limit", map[string]string{"CONSOLE_LOGIN_PER_MINUTE": "0"}, Config{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{"COOKIE_SECURE", "CONSOLE_SESSION_TTL", "CONSOLE_IDLE_TIMEOUT", "CONSOLE_LOGIN_PER_MINUTE", "SESSION_ENCRYPTION_KEY"} {
				t.Setenv(k, tc.env[k])
			}
			got, err := ConfigFromEnv()
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if !tc.wantErr && (got.CookieSecure != tc.want.CookieSecure || got.SessionTTL != tc.want.SessionTTL || got.IdleTimeout != tc.want.IdleTimeout ||
				got.LoginPerMinute != tc.want.LoginPerMinute || !bytes.Equal(got.SessionKey, tc.want.SessionKey)) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}
