package app

import (
	"strings"
	"testing"
	"time"
)

func TestConfigFromEnv(t *testing.T) {
	key := "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
	secret := strings.Repeat("s", 40)
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string
		check   func(*testing.T, Config)
	}{
		{"development defaults", map[string]string{"APP_ENV": "development"}, "", func(t *testing.T, c Config) {
			if c.DefaultFeeCents != 10 || c.GRPCAddr != "127.0.0.1:50053" || c.MetricsAddr != "127.0.0.1:9093" ||
				c.SettleGrace != 30*time.Second || len(c.SecretsKey) != 32 || len(c.Warnings) != 2 || len(c.AllowedHosts) != 0 ||
				c.AllowPrivate || len(c.AllowedCIDRs) != 0 || c.WriteBatchMax != DefaultWriteBatchMax {
				t.Errorf("config = %+v", c)
			}
		}},
		{"knobs", map[string]string{"APP_ENV": "development", "WORKFLOW_DEFAULT_FEE_CENTS": "25", "WORKFLOW_ALLOWED_HOSTS": "a.example.com, b.example.com",
			"WORKFLOW_SECRETS_KEY": key, "METRICS_ADDR": "", "WORKFLOW_SETTLE_GRACE": "5s"}, "", func(t *testing.T, c Config) {
			if c.DefaultFeeCents != 25 || len(c.AllowedHosts) != 2 || c.MetricsAddr != "" || c.SettleGrace != 5*time.Second || c.SecretsKey[1] != 1 {
				t.Errorf("config = %+v", c)
			}
		}},
		{"production needs the secrets", map[string]string{"APP_ENV": "production"}, "WORKFLOW_SECRETS_KEY is required in production", nil},
		{"production refuses the development key", map[string]string{"APP_ENV": "production", "INTERNAL_AUTH_SECRET": secret,
			"WORKFLOW_SECRETS_KEY": DevSecretsKey}, "WORKFLOW_SECRETS_KEY must not be the development value in production", nil},
		{"no APP_ENV is production", nil, "WORKFLOW_SECRETS_KEY is required in production", nil},
		{"production with secrets", map[string]string{"APP_ENV": "production", "INTERNAL_AUTH_SECRET": secret, "WORKFLOW_SECRETS_KEY": key,
			"WORKFLOW_ALLOWED_HOSTS": "n8n.example.com", "PUBLIC_BASE_URL": "https://api.example.com"}, "", func(t *testing.T, c Config) {
			if c.AllowPrivate || len(c.AllowedCIDRs) != 0 || c.callbackBaseURL() != "https://api.example.com" {
				t.Errorf("config = %+v", c)
			}
		}},
		{"production needs the host allow-list", map[string]string{"APP_ENV": "production", "INTERNAL_AUTH_SECRET": secret,
			"WORKFLOW_SECRETS_KEY": key}, "WORKFLOW_ALLOWED_HOSTS is required in production", nil},
		{"production refuses private addresses", map[string]string{"APP_ENV": "production", "INTERNAL_AUTH_SECRET": secret,
			"WORKFLOW_SECRETS_KEY": key, "WORKFLOW_ALLOWED_HOSTS": "n8n.internal", "WORKFLOW_ALLOW_PRIVATE": "true"}, "WORKFLOW_ALLOW_PRIVATE=true is refused in production", nil},
		{"production with private ranges", map[string]string{"APP_ENV": "production", "INTERNAL_AUTH_SECRET": secret,
			"WORKFLOW_SECRETS_KEY": key, "WORKFLOW_ALLOWED_HOSTS": "n8n.n8n.svc.cluster.local", "WORKFLOW_ALLOWED_CIDRS": "10.96.0.0/12, fd00:10::/64",
			"PUBLIC_BASE_URL": "https://api.example.com"}, "", func(t *testing.T, c Config) {
			if len(c.AllowedCIDRs) != 2 || c.AllowedCIDRs[0].String() != "10.96.0.0/12" {
				t.Errorf("AllowedCIDRs = %v", c.AllowedCIDRs)
			}
		}},
		{"development may allow private addresses", map[string]string{"APP_ENV": "development", "WORKFLOW_ALLOW_PRIVATE": "true"}, "", func(t *testing.T, c Config) {
			if !c.AllowPrivate {
				t.Error("AllowPrivate = false")
			}
		}},
		{"writes one by one", map[string]string{"APP_ENV": "development", "WORKFLOW_WRITE_BATCH_MAX": "1"}, "", func(t *testing.T, c Config) {
			if c.WriteBatchMax != 1 {
				t.Errorf("WriteBatchMax = %d", c.WriteBatchMax)
			}
		}},
		{"write batch max zero", map[string]string{"APP_ENV": "development", "WORKFLOW_WRITE_BATCH_MAX": "0"}, "WORKFLOW_WRITE_BATCH_MAX", nil},
		{"write batch max too large", map[string]string{"APP_ENV": "development", "WORKFLOW_WRITE_BATCH_MAX": "5000"}, "WORKFLOW_WRITE_BATCH_MAX must be at most 1000", nil},
		{"outbox relay", map[string]string{"APP_ENV": "development", "WORKFLOW_OUTBOX_BATCH": "32", "WORKFLOW_OUTBOX_POLL": "250ms"}, "", func(t *testing.T, c Config) {
			if c.OutboxBatch != 32 || c.OutboxPoll != 250*time.Millisecond {
				t.Errorf("OutboxBatch, OutboxPoll = %d, %v", c.OutboxBatch, c.OutboxPoll)
			}
		}},
		{"outbox relay defaults", map[string]string{"APP_ENV": "development"}, "", func(t *testing.T, c Config) {
			if c.OutboxBatch != 256 || c.OutboxPoll != time.Second {
				t.Errorf("OutboxBatch, OutboxPoll = %d, %v", c.OutboxBatch, c.OutboxPoll)
			}
		}},
		{"outbox batch too large", map[string]string{"APP_ENV": "development", "WORKFLOW_OUTBOX_BATCH": "5001"}, "WORKFLOW_OUTBOX_BATCH must be between 1 and 5000", nil},
		{"outbox batch zero", map[string]string{"APP_ENV": "development", "WORKFLOW_OUTBOX_BATCH": "0"}, "WORKFLOW_OUTBOX_BATCH", nil},
		{"bad allow private", map[string]string{"APP_ENV": "development", "WORKFLOW_ALLOW_PRIVATE": "yes please"}, "WORKFLOW_ALLOW_PRIVATE", nil},
		{"bad CIDR", map[string]string{"APP_ENV": "development", "WORKFLOW_ALLOWED_CIDRS": "10.0.0.0/8,n8n.internal"}, "WORKFLOW_ALLOWED_CIDRS", nil},
		{"CIDR allowing everything", map[string]string{"APP_ENV": "development", "WORKFLOW_ALLOWED_CIDRS": "0.0.0.0/0"}, "WORKFLOW_ALLOWED_CIDRS", nil},
		{"short key", map[string]string{"APP_ENV": "development", "WORKFLOW_SECRETS_KEY": "AAAA"}, "WORKFLOW_SECRETS_KEY", nil},
		{"previous keys during a rotation", map[string]string{"APP_ENV": "development", "WORKFLOW_SECRETS_KEY": key,
			"WORKFLOW_SECRETS_KEYS_PREVIOUS": DevSecretsKey + ", BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc="}, "", func(t *testing.T, c Config) {
			if len(c.PreviousSecretsKeys) != 2 || c.PreviousSecretsKeys[1][0] != 7 {
				t.Errorf("PreviousSecretsKeys = %v", c.PreviousSecretsKeys)
			}
		}},
		{"bad previous key", map[string]string{"APP_ENV": "development", "WORKFLOW_SECRETS_KEYS_PREVIOUS": "AAAA"}, "WORKFLOW_SECRETS_KEYS_PREVIOUS, key 1", nil},
		{"current key again as previous", map[string]string{"APP_ENV": "development", "WORKFLOW_SECRETS_KEY": key,
			"WORKFLOW_SECRETS_KEYS_PREVIOUS": key}, "is in the ring twice", nil},
		{"bad fee", map[string]string{"APP_ENV": "development", "WORKFLOW_DEFAULT_FEE_CENTS": "-1"}, "WORKFLOW_DEFAULT_FEE_CENTS", nil},
		{"bad duration", map[string]string{"APP_ENV": "development", "WORKFLOW_SETTLE_INTERVAL": "soon"}, "WORKFLOW_SETTLE_INTERVAL", nil},
		{"bad env", map[string]string{"APP_ENV": "staging"}, "APP_ENV", nil},
		{"production needs the public base URL", map[string]string{"APP_ENV": "production", "INTERNAL_AUTH_SECRET": secret,
			"WORKFLOW_SECRETS_KEY": key, "WORKFLOW_ALLOWED_HOSTS": "n8n.example.com"}, "PUBLIC_BASE_URL is required in production", nil},
		{"public base URL with a query", map[string]string{"APP_ENV": "development", "PUBLIC_BASE_URL": "https://api.example.com/?x=1"}, "PUBLIC_BASE_URL", nil},
		{"public base URL not http", map[string]string{"APP_ENV": "development", "PUBLIC_BASE_URL": "api.example.com"}, "PUBLIC_BASE_URL", nil},
		{"development defaults the public base URL", map[string]string{"APP_ENV": "development"}, "", func(t *testing.T, c Config) {
			if c.callbackBaseURL() != DevPublicBaseURL {
				t.Errorf("callback base = %q", c.callbackBaseURL())
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, k := range []string{"APP_ENV", "INTERNAL_AUTH_SECRET", "WORKFLOW_SECRETS_KEY", "WORKFLOW_DEFAULT_FEE_CENTS",
				"WORKFLOW_ALLOWED_HOSTS", "WORKFLOW_SETTLE_GRACE", "WORKFLOW_SETTLE_INTERVAL", "GRPC_ADDR", "DATABASE_URL",
				"WORKFLOW_ALLOW_PRIVATE", "WORKFLOW_ALLOWED_CIDRS", "WORKFLOW_SECRETS_KEYS_PREVIOUS", "PUBLIC_BASE_URL"} {
				t.Setenv(k, "")
			}
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			if _, ok := tt.env["METRICS_ADDR"]; !ok {
				t.Setenv("METRICS_ADDR", "127.0.0.1:9093")
			}
			c, err := ConfigFromEnv()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("err = %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			case tt.check != nil:
				tt.check(t, c)
			}
		})
	}
}

// TestUnsetEnvironmentIsProduction: a Config without APP_ENV fails closed,
// as envconfig.Common says (workflow's own Production once said otherwise).
func TestUnsetEnvironmentIsProduction(t *testing.T) {
	t.Parallel()
	if !(Config{}).Production() {
		t.Error("a Config without APP_ENV is not production: development defaults would pass")
	}
}
