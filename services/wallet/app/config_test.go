package app_test

import (
	"os"
	"strings"
	"testing"

	"github.com/meterflow/meterflow/platform/callauth"
	"github.com/meterflow/meterflow/services/wallet/app"
)

// Not parallel: t.Setenv changes the process environment.
func TestConfigFromEnv(t *testing.T) {
	secret := strings.Repeat("s", 40)
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string
		check   func(t *testing.T, c app.Config)
	}{
		{
			name: "development defaults",
			env:  map[string]string{"APP_ENV": "development"},
			check: func(t *testing.T, c app.Config) {
				if c.StripeSecretKey != app.DevStripeSecretKey || c.StripeWebhookSecret != app.DevWebhookSecret || c.StripeAPIBase != app.DevStripeAPIBase {
					t.Fatalf("stripe = %q %q %q", c.StripeSecretKey, c.StripeWebhookSecret, c.StripeAPIBase)
				}
				if c.TopUpMinCents != 500 || c.TopUpMaxCents != 100000 || c.Currency != "usd" || c.GRPCAddr != "127.0.0.1:50052" || c.MetricsAddr != "127.0.0.1:9092" {
					t.Fatalf("config = %+v", c)
				}
			},
		},
		{
			name: "development with a real test key talks to Stripe",
			env:  map[string]string{"APP_ENV": "development", "STRIPE_SECRET_KEY": "sk_test_real"},
			check: func(t *testing.T, c app.Config) {
				if c.StripeAPIBase != "" {
					t.Fatalf("api base = %q, want Stripe's own", c.StripeAPIBase)
				}
			},
		},
		{
			name:    "production without Stripe secrets",
			env:     map[string]string{"APP_ENV": "production", "INTERNAL_AUTH_SECRET": secret},
			wantErr: "STRIPE_SECRET_KEY is required",
		},
		{
			name:    "production without webhook secret",
			env:     map[string]string{"APP_ENV": "production", "INTERNAL_AUTH_SECRET": secret, "STRIPE_SECRET_KEY": "sk_live_x"},
			wantErr: "STRIPE_WEBHOOK_SECRET is required",
		},
		{
			name:    "production with development secrets",
			env:     map[string]string{"APP_ENV": "production", "INTERNAL_AUTH_SECRET": secret, "STRIPE_SECRET_KEY": app.DevStripeSecretKey, "STRIPE_WEBHOOK_SECRET": "whsec_x"},
			wantErr: "STRIPE_SECRET_KEY must not be the development value in production",
		},
		{
			name:    "production with the development internal secret",
			env:     map[string]string{"APP_ENV": "production", "INTERNAL_AUTH_SECRET": callauth.DevInternalAuthSecret, "STRIPE_SECRET_KEY": "sk_live_x", "STRIPE_WEBHOOK_SECRET": "whsec_x"},
			wantErr: "INTERNAL_AUTH_SECRET must not be the development value in production",
		},
		{
			// The reproduced hole: no APP_ENV, a live key, the public webhook secret.
			name:    "no APP_ENV is production",
			env:     map[string]string{"INTERNAL_AUTH_SECRET": secret, "STRIPE_SECRET_KEY": "sk_live_x", "STRIPE_WEBHOOK_SECRET": app.DevWebhookSecret},
			wantErr: "STRIPE_WEBHOOK_SECRET must not be the development value in production",
		},
		{
			name:    "no APP_ENV and no secrets",
			wantErr: "INTERNAL_AUTH_SECRET is required in production",
		},
		{
			name:    "a live key never runs with the development webhook secret",
			env:     map[string]string{"APP_ENV": "development", "STRIPE_SECRET_KEY": "rk_live_x", "STRIPE_WEBHOOK_SECRET": app.DevWebhookSecret},
			wantErr: "never runs with a live Stripe key",
		},
		{
			name:    "a live key in development gets no default webhook secret",
			env:     map[string]string{"APP_ENV": "development", "STRIPE_SECRET_KEY": "sk_live_x"},
			wantErr: "STRIPE_WEBHOOK_SECRET is required",
		},
		{
			name: "a restricted test key may use the development webhook secret",
			env:  map[string]string{"APP_ENV": "development", "STRIPE_SECRET_KEY": "rk_test_x"},
			check: func(t *testing.T, c app.Config) {
				if c.StripeWebhookSecret != app.DevWebhookSecret {
					t.Fatalf("webhook secret = %q", c.StripeWebhookSecret)
				}
			},
		},
		{
			name:    "production without internal secret",
			env:     map[string]string{"APP_ENV": "production", "STRIPE_SECRET_KEY": "sk_live_x", "STRIPE_WEBHOOK_SECRET": "whsec_x"},
			wantErr: "INTERNAL_AUTH_SECRET is required",
		},
		{
			name: "production complete",
			env:  map[string]string{"APP_ENV": "production", "INTERNAL_AUTH_SECRET": secret, "STRIPE_SECRET_KEY": "sk_live_x", "STRIPE_WEBHOOK_SECRET": "whsec_x", "PUBLIC_BASE_URL": "https://app.example.com"},
		},
		{
			name:    "production without the public URL of the emails' links",
			env:     map[string]string{"APP_ENV": "production", "INTERNAL_AUTH_SECRET": secret, "STRIPE_SECRET_KEY": "sk_live_x", "STRIPE_WEBHOOK_SECRET": "whsec_x"},
			wantErr: "PUBLIC_BASE_URL is required in production",
		},
		{name: "bad min", env: map[string]string{"APP_ENV": "development", "TOPUP_MIN_CENTS": "abc"}, wantErr: "TOPUP_MIN_CENTS"},
		{name: "min above max", env: map[string]string{"APP_ENV": "development", "TOPUP_MIN_CENTS": "900", "TOPUP_MAX_CENTS": "800"}, wantErr: "TOPUP_MIN_CENTS"},
		{name: "short idempotency ttl", env: map[string]string{"APP_ENV": "development", "IDEMPOTENCY_TTL": "1h"}, wantErr: "IDEMPOTENCY_TTL"},
		{name: "bad api base", env: map[string]string{"APP_ENV": "development", "STRIPE_API_BASE": "localhost:12111"}, wantErr: "STRIPE_API_BASE"},
		{name: "sweeper off", env: map[string]string{"APP_ENV": "development", "HOLD_SWEEP_INTERVAL": "0s"}, check: func(t *testing.T, c app.Config) {
			if c.HoldSweepInterval != 0 {
				t.Fatalf("interval = %s", c.HoldSweepInterval)
			}
		}},
	}
	vars := []string{"APP_ENV", "INTERNAL_AUTH_SECRET", "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "STRIPE_API_BASE",
		"TOPUP_MIN_CENTS", "TOPUP_MAX_CENTS", "IDEMPOTENCY_TTL", "HOLD_SWEEP_INTERVAL", "GRPC_ADDR", "METRICS_ADDR", "CURRENCY", "PUBLIC_BASE_URL"}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, v := range vars {
				t.Setenv(v, tc.env[v]) // restores the old value at the end
				if _, ok := tc.env[v]; !ok {
					_ = os.Unsetenv(v)
				}
			}
			c, err := app.ConfigFromEnv()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ConfigFromEnv: %v", err)
			}
			if tc.check != nil {
				tc.check(t, c)
			}
		})
	}
}
