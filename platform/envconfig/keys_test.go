package envconfig_test

import (
	"strings"
	"testing"

	"github.com/meterflow/meterflow/platform/envconfig"
)

// Not parallel: t.Setenv changes the process environment.
func TestSealingKeys(t *testing.T) {
	const dev = "ZGV2ZWxvcG1lbnQta2V5LW9mLTMyLWJ5dGVzLWxvbmc="  // 32 bytes
	const good = "cHJvZHVjdGlvbi1rZXktb2YtMzItYnl0ZXMtbG9uZyE=" // 32 bytes
	tests := []struct {
		name     string
		env      string // APP_ENV
		key      string
		previous string
		wantErr  string
		wantPrev int
	}{
		{name: "development default", env: "development"},
		{name: "production needs it", env: "production", wantErr: "K is required in production"},
		{name: "production refuses the development key", env: "production", key: dev, wantErr: "K must not be the development value"},
		{name: "production with a key and two previous", env: "production", key: good, previous: dev + ", " + good, wantPrev: 2},
		{name: "not base64", env: "development", key: "%%%", wantErr: "K: "},
		{name: "a short previous key", env: "development", key: good, previous: "c2hvcnQ=", wantErr: "K_PREVIOUS, key 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("APP_ENV", tc.env)
			t.Setenv("K", tc.key)
			t.Setenv("K_PREVIOUS", tc.previous)
			c := envconfig.Common{Env: tc.env}
			cur, prev, err := c.SealingKeys("K", "K_PREVIOUS", dev)
			switch {
			case tc.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
			case err != nil:
				t.Fatal(err)
			case len(cur) != 32 || len(prev) != tc.wantPrev:
				t.Fatalf("current %d bytes, %d previous", len(cur), len(prev))
			}
		})
	}
}
