package console

import (
	"testing"
	"time"
)

func TestConfigFromEnv(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		env     map[string]string
		want    Config
		wantErr bool
	}{
		{"defaults", nil, Config{CookieSecure: true, SessionTTL: 8 * time.Hour, LoginPerMinute: 10}, false},
		{"localhost", map[string]string{"COOKIE_SECURE": "false", "CONSOLE_SESSION_TTL": "30m", "CONSOLE_LOGIN_PER_MINUTE": "5"},
			Config{CookieSecure: false, SessionTTL: 30 * time.Minute, LoginPerMinute: 5}, false},
		{"bad bool", map[string]string{"COOKIE_SECURE": "maybe"}, Config{}, true},
		{"short ttl", map[string]string{"CONSOLE_SESSION_TTL": "5s"}, Config{}, true},
		{"bad limit", map[string]string{"CONSOLE_LOGIN_PER_MINUTE": "0"}, Config{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ConfigFromEnv(func(k string) string { return tc.env[k] })
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if !tc.wantErr && (got.CookieSecure != tc.want.CookieSecure || got.SessionTTL != tc.want.SessionTTL || got.LoginPerMinute != tc.want.LoginPerMinute) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}
