package app

import (
	"strings"
	"testing"
	"time"

	"github.com/meterflow/meterflow/services/notify/internal/mailer"
)

// Not parallel: t.Setenv changes the process environment.
func TestConfigFromEnv(t *testing.T) {
	secret := strings.Repeat("s", 40)
	prod := func(env map[string]string) map[string]string {
		out := map[string]string{"APP_ENV": "production", "INTERNAL_AUTH_SECRET": secret,
			"SMTP_URL": "smtps://mailer:pa%24%24@smtp.example.com", "MAIL_FROM": "Meterflow <no-reply@example.com>",
			"WEBHOOK_SECRETS_KEY": "Ym9ndXMtYnV0LTMyLWJ5dGVzLWxvbmctdGVzdC1rZXk="}
		for k, v := range env {
			out[k] = v
		}
		return out
	}
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string
		check   func(*testing.T, Config)
	}{
		{"development defaults: Mailpit", map[string]string{"APP_ENV": "development"}, "", func(t *testing.T, c Config) {
			if c.GRPCAddr != "127.0.0.1:50054" || c.MetricsAddr != "127.0.0.1:9094" || c.SMTP.Host != "127.0.0.1" || c.SMTP.Port != 1025 ||
				c.SMTP.StartTLS != mailer.StartTLSOpportunistic || c.MailFrom.Address != "no-reply@meterflow.local" || c.MailFrom.Name != "Meterflow" ||
				c.SendTimeout != time.Minute || c.Workers != 10 || len(c.Warnings) != 4 || c.Webhooks.AllowPrivate || c.Webhooks.Workers != DefaultWebhookWorkers {
				t.Errorf("config = %+v", c)
			}
		}},
		{"production", prod(nil), "", func(t *testing.T, c Config) {
			if !c.SMTP.ImplicitTLS || c.SMTP.Port != 465 || c.SMTP.Password != "pa$$" || c.MailFrom.Address != "no-reply@example.com" {
				t.Errorf("config = %+v", c)
			}
		}},
		{"production requires STARTTLS by default", prod(map[string]string{"SMTP_URL": "smtp://relay.example.com"}), "", func(t *testing.T, c Config) {
			if c.SMTP.StartTLS != mailer.StartTLSRequired || c.SMTP.Port != 587 {
				t.Errorf("SMTP = %+v", c.SMTP)
			}
		}},
		{"production needs SMTP_URL", prod(map[string]string{"SMTP_URL": ""}), "SMTP_URL is required in production", nil},
		{"production needs MAIL_FROM", prod(map[string]string{"MAIL_FROM": ""}), "MAIL_FROM is required in production", nil},
		{"production refuses the development sender", prod(map[string]string{"MAIL_FROM": DevMailFrom}), "MAIL_FROM must not be the development value", nil},
		{"a password in clear", prod(map[string]string{"SMTP_URL": "smtp://u:secret-pw@relay.example.com?starttls=opportunistic"}), "credentials need TLS", nil},
		{"bad MAIL_FROM", prod(map[string]string{"MAIL_FROM": "nobody"}), "MAIL_FROM must be an address", nil},
		{"rescue before the send ends", prod(map[string]string{"NOTIFY_SEND_TIMEOUT": "2m", "NOTIFY_RESCUE_AFTER": "2m"}), "NOTIFY_RESCUE_AFTER must be at least", nil},
		{"short retention", prod(map[string]string{"NOTIFY_RETENTION": "24h"}), "NOTIFY_RETENTION must be at least", nil},
		{"bad workers", prod(map[string]string{"NOTIFY_WORKERS": "0"}), "NOTIFY_WORKERS", nil},
		{"development may reach private addresses", map[string]string{"APP_ENV": "development", "WEBHOOK_ALLOW_PRIVATE": "true"}, "", func(t *testing.T, c Config) {
			if !c.Webhooks.AllowPrivate {
				t.Error("WEBHOOK_ALLOW_PRIVATE not read")
			}
		}},
		{"production never reaches private addresses", prod(map[string]string{"WEBHOOK_ALLOW_PRIVATE": "true"}), "WEBHOOK_ALLOW_PRIVATE=true is refused in production", nil},
		{"production needs WEBHOOK_SECRETS_KEY", prod(map[string]string{"WEBHOOK_SECRETS_KEY": ""}), "WEBHOOK_SECRETS_KEY is required in production", nil},
		{"production refuses the development key", prod(map[string]string{"WEBHOOK_SECRETS_KEY": DevWebhookSecretsKey}), "WEBHOOK_SECRETS_KEY must not be the development value", nil},
		{"a short key", prod(map[string]string{"WEBHOOK_SECRETS_KEY": "c2hvcnQ="}), "WEBHOOK_SECRETS_KEY", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, k := range []string{"APP_ENV", "INTERNAL_AUTH_SECRET", "SMTP_URL", "MAIL_FROM", "GRPC_ADDR", "DATABASE_URL", "IDENTITY_ADDR",
				"NOTIFY_SEND_TIMEOUT", "NOTIFY_RESCUE_AFTER", "NOTIFY_RETENTION", "NOTIFY_WORKERS",
				"WEBHOOK_SECRETS_KEY", "WEBHOOK_SECRETS_KEYS_PREVIOUS", "WEBHOOK_ALLOW_PRIVATE", "WEBHOOK_WORKERS"} {
				t.Setenv(k, "")
			}
			t.Setenv("METRICS_ADDR", "127.0.0.1:9094")
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			c, err := ConfigFromEnv()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("err = %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			case err != nil && (strings.Contains(err.Error(), "secret-pw") || strings.Contains(err.Error(), "pa$$")):
				t.Fatalf("the error shows the SMTP password: %v", err)
			case tt.check != nil:
				tt.check(t, c)
			}
		})
	}
}
