package app_test

import (
	"os"
	"strings"
	"testing"

	"github.com/meterflow/meterflow/services/wallet/app"
)

// The wallet's own variables: the adjustment cap, the reserve and settle batches and
// the origins a top-up's return URLs may use. Not parallel: t.Setenv changes the process
// environment.
func TestConfigAdjustmentCapAndReturnOrigins(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string
		check   func(t *testing.T, c app.Config)
	}{
		{name: "defaults", check: func(t *testing.T, c app.Config) {
			if c.AdjustmentMaxCents != 1_000_000 || len(c.CheckoutAllowedOrigins) != 0 || c.PublicBaseURL != app.DevPublicBaseURL {
				t.Fatalf("config = %d %v %q", c.AdjustmentMaxCents, c.CheckoutAllowedOrigins, c.PublicBaseURL)
			}
		}},
		{name: "cap", env: map[string]string{"ADJUSTMENT_MAX_CENTS": "2500"}, check: func(t *testing.T, c app.Config) {
			if c.AdjustmentMaxCents != 2500 {
				t.Fatalf("cap = %d", c.AdjustmentMaxCents)
			}
		}},
		{name: "zero cap", env: map[string]string{"ADJUSTMENT_MAX_CENTS": "0"}, wantErr: "ADJUSTMENT_MAX_CENTS"},
		{name: "reserve batches by default", check: func(t *testing.T, c app.Config) {
			if c.ReserveBatchMax != app.DefaultReserveBatchMax {
				t.Fatalf("batch max = %d", c.ReserveBatchMax)
			}
		}},
		{name: "reserves one by one", env: map[string]string{"WALLET_RESERVE_BATCH_MAX": "1"}, check: func(t *testing.T, c app.Config) {
			if c.ReserveBatchMax != 1 {
				t.Fatalf("batch max = %d", c.ReserveBatchMax)
			}
		}},
		{name: "settlements batch by default", check: func(t *testing.T, c app.Config) {
			if c.SettleBatchMax != app.DefaultReserveBatchMax {
				t.Fatalf("settle batch max = %d", c.SettleBatchMax)
			}
		}},
		{name: "settles one by one", env: map[string]string{"WALLET_SETTLE_BATCH_MAX": "1"}, check: func(t *testing.T, c app.Config) {
			if c.SettleBatchMax != 1 || c.ReserveBatchMax != app.DefaultReserveBatchMax {
				t.Fatalf("settle batch max = %d, reserve %d", c.SettleBatchMax, c.ReserveBatchMax)
			}
		}},
		{name: "settle batch max zero", env: map[string]string{"WALLET_SETTLE_BATCH_MAX": "0"}, wantErr: "WALLET_SETTLE_BATCH_MAX"},
		{name: "settle batch max too large", env: map[string]string{"WALLET_SETTLE_BATCH_MAX": "1001"}, wantErr: "WALLET_SETTLE_BATCH_MAX"},
		{name: "batch max zero", env: map[string]string{"WALLET_RESERVE_BATCH_MAX": "0"}, wantErr: "WALLET_RESERVE_BATCH_MAX"},
		{name: "batch max too large", env: map[string]string{"WALLET_RESERVE_BATCH_MAX": "1001"}, wantErr: "WALLET_RESERVE_BATCH_MAX"},
		{name: "batch max huge", env: map[string]string{"WALLET_RESERVE_BATCH_MAX": "99999999999999"}, wantErr: "WALLET_RESERVE_BATCH_MAX"},
		{name: "origins", env: map[string]string{"CHECKOUT_ALLOWED_ORIGINS": " https://app.example.com, http://localhost:3000/ ", "PUBLIC_BASE_URL": "https://api.example.com"},
			check: func(t *testing.T, c app.Config) {
				if strings.Join(c.CheckoutAllowedOrigins, " ") != "https://app.example.com http://localhost:3000/" || c.PublicBaseURL != "https://api.example.com" {
					t.Fatalf("origins = %q, public = %q", c.CheckoutAllowedOrigins, c.PublicBaseURL)
				}
			}},
		{name: "origin with a path", env: map[string]string{"CHECKOUT_ALLOWED_ORIGINS": "https://app.example.com/wallet"}, wantErr: "CHECKOUT_ALLOWED_ORIGINS"},
		{name: "origin without scheme", env: map[string]string{"CHECKOUT_ALLOWED_ORIGINS": "app.example.com"}, wantErr: "CHECKOUT_ALLOWED_ORIGINS"},
		{name: "public base with credentials", env: map[string]string{"PUBLIC_BASE_URL": "https://u:p@api.example.com"}, wantErr: "PUBLIC_BASE_URL"},
		{name: "relative success url", env: map[string]string{"CHECKOUT_SUCCESS_URL": "/topup/success"}, wantErr: "CHECKOUT_SUCCESS_URL"},
	}
	vars := []string{"ADJUSTMENT_MAX_CENTS", "WALLET_RESERVE_BATCH_MAX", "WALLET_SETTLE_BATCH_MAX", "CHECKOUT_ALLOWED_ORIGINS", "PUBLIC_BASE_URL", "CHECKOUT_SUCCESS_URL", "CHECKOUT_CANCEL_URL"}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("APP_ENV", "development")
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
			tc.check(t, c)
		})
	}
}
