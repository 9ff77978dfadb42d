package envconfig_test

import (
	"strings"
	"testing"

	"github.com/meterflow/meterflow/platform/callauth"
	"github.com/meterflow/meterflow/platform/envconfig"
)

// Not parallel: t.Setenv changes the process environment.
func TestReadCommon(t *testing.T) {
	secret := strings.Repeat("s", 40)
	tests := []struct {
		name      string
		env       map[string]string
		wantErr   string
		wantProd  bool
		wantPprof bool
		warnings  int
	}{
		{name: "unset APP_ENV is production", env: map[string]string{"INTERNAL_AUTH_SECRET": secret}, wantProd: true},
		{name: "production needs the secret", env: map[string]string{}, wantErr: "INTERNAL_AUTH_SECRET is required in production"},
		{name: "explicit development takes defaults", env: map[string]string{"APP_ENV": "development"}, wantPprof: true, warnings: 1},
		{name: "development with a secret", env: map[string]string{"APP_ENV": "development", "INTERNAL_AUTH_SECRET": secret}, wantPprof: true},
		{name: "unknown environment", env: map[string]string{"APP_ENV": "staging", "INTERNAL_AUTH_SECRET": secret}, wantErr: `APP_ENV must be development or production, not "staging"`},
		{name: "pprof on in production on request", env: map[string]string{"INTERNAL_AUTH_SECRET": secret, "PPROF_ENABLED": "true"}, wantProd: true, wantPprof: true},
		{name: "bad pprof", env: map[string]string{"APP_ENV": "development", "PPROF_ENABLED": "yes please"}, wantErr: "PPROF_ENABLED must be true or false"},
		{name: "bad grace", env: map[string]string{"APP_ENV": "development", "SHUTDOWN_GRACE": "soon"}, wantErr: "SHUTDOWN_GRACE"},
		{name: "previous secret during a rotation", env: map[string]string{"INTERNAL_AUTH_SECRET": secret, "INTERNAL_AUTH_SECRET_PREVIOUS": strings.Repeat("p", 40)}, wantProd: true},
		{name: "short previous secret", env: map[string]string{"INTERNAL_AUTH_SECRET": secret, "INTERNAL_AUTH_SECRET_PREVIOUS": "short"}, wantErr: "INTERNAL_AUTH_SECRET_PREVIOUS must be at least 32 bytes"},
		{name: "development previous secret in production", env: map[string]string{"INTERNAL_AUTH_SECRET": secret, "INTERNAL_AUTH_SECRET_PREVIOUS": callauth.DevInternalAuthSecret}, wantErr: "INTERNAL_AUTH_SECRET_PREVIOUS must not be the development value"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{"APP_ENV", "INTERNAL_AUTH_SECRET", "INTERNAL_AUTH_SECRET_PREVIOUS", "PPROF_ENABLED", "SHUTDOWN_GRACE", "JWT_ISSUER", "JWT_AUDIENCE"} {
				t.Setenv(k, tc.env[k])
			}
			c, err := envconfig.ReadCommon()
			if err == nil {
				err = c.Validate()
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if c.Production() != tc.wantProd || c.Pprof != tc.wantPprof || len(c.Warnings) != tc.warnings {
				t.Fatalf("production %t pprof %t warnings %q", c.Production(), c.Pprof, c.Warnings)
			}
		})
	}
}

func TestValidateRefusesDevelopmentValuesInProduction(t *testing.T) {
	t.Parallel()
	base := envconfig.Common{InternalAuthSecret: []byte(callauth.DevInternalAuthSecret), JWTIssuer: "i", JWTAudience: "a"}
	tests := []struct {
		env     string
		wantErr bool
	}{
		{"", true}, // the zero value is production: fail closed
		{envconfig.Production, true},
		{envconfig.Development, false},
	}
	for _, tc := range tests {
		c := base
		c.Env = tc.env
		err := c.Validate()
		if (err != nil) != tc.wantErr {
			t.Errorf("Env %q: err = %v, want error %t", tc.env, err, tc.wantErr)
		}
	}
	if err := (envconfig.Common{Env: envconfig.Development, InternalAuthSecret: []byte("short"), JWTIssuer: "i", JWTAudience: "a"}).Validate(); err == nil {
		t.Error("a short secret passed")
	}
}

// TestReadDatabaseOnly: database-only commands read APP_ENV and
// DATABASE_URL and need no secret, in production too. Not parallel:
// t.Setenv.
func TestReadDatabaseOnly(t *testing.T) {
	t.Setenv("APP_ENV", "")
	t.Setenv("INTERNAL_AUTH_SECRET", "")
	t.Setenv("DATABASE_URL", "")
	c, url, err := envconfig.ReadDatabaseOnly("postgres://local/db")
	if err != nil || !c.Production() || url != "postgres://local/db" {
		t.Fatalf("unset: %+v %q %v", c, url, err)
	}
	t.Setenv("DATABASE_URL", "postgres://prod/db")
	if _, url, err := envconfig.ReadDatabaseOnly("postgres://local/db"); err != nil || url != "postgres://prod/db" {
		t.Fatalf("set: %q %v", url, err)
	}
	t.Setenv("APP_ENV", "staging")
	if _, _, err := envconfig.ReadDatabaseOnly("x"); err == nil {
		t.Fatal("APP_ENV=staging accepted")
	}
}
