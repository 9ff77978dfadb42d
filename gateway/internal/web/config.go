package web

import (
	"errors"
	"fmt"
	"time"

	"github.com/meterflow/meterflow/platform/envconfig"
	"github.com/meterflow/meterflow/platform/secretbox"
)

// DevSessionKeyBase64 is the published development SESSION_ENCRYPTION_KEY
// ("meterflow-dev-only-console-key!!"): it protects nothing, and
// production refuses it.
const DevSessionKeyBase64 = "bWV0ZXJmbG93LWRldi1vbmx5LWNvbnNvbGUta2V5ISE="

// DevSessionKey returns the decoded DevSessionKeyBase64.
func DevSessionKey() []byte {
	k, _ := secretbox.ParseKey(DevSessionKeyBase64)
	return k
}

// EnvNames are the environment variables of one site's own knobs; the
// cookie flag and the session key are the deployment's, shared by every
// site (COOKIE_SECURE, SESSION_ENCRYPTION_KEY).
type EnvNames struct {
	SessionTTL, IdleTimeout, LoginPerMinute string
}

// minLifetime bounds the session lifetimes from below: a shorter login
// would end while its first page loads.
const minLifetime = time.Minute

// ConfigFromEnv reads a site's Config through platform/envconfig:
// COOKIE_SECURE (default true), the site's session TTL (8h) and idle
// timeout (30m), both at least 1m, its login attempts per minute (10), and
// SESSION_ENCRYPTION_KEY (no default here: see Config.SessionKey). Every
// error names its variable; all are reported at once.
func ConfigFromEnv(names EnvNames) (Config, error) {
	var cfg Config
	var errs [4]error
	cfg.CookieSecure, errs[0] = envconfig.Bool("COOKIE_SECURE", true)
	cfg.SessionTTL, errs[1] = atLeast(names.SessionTTL, 8*time.Hour)
	cfg.IdleTimeout, errs[2] = atLeast(names.IdleTimeout, 30*time.Minute)
	perMinute, err := envconfig.PositiveInt(names.LoginPerMinute, 10)
	cfg.LoginPerMinute, errs[3] = int(perMinute), err
	keyErr := error(nil)
	if v := envconfig.String("SESSION_ENCRYPTION_KEY", ""); v != "" {
		if cfg.SessionKey, err = secretbox.ParseKey(v); err != nil {
			keyErr = fmt.Errorf("SESSION_ENCRYPTION_KEY must be base64 of 32 random bytes (openssl rand -base64 32): %w", err)
		}
	}
	if err := errors.Join(append(errs[:], keyErr)...); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// atLeast reads a duration of at least minLifetime.
func atLeast(name string, def time.Duration) (time.Duration, error) {
	d, err := envconfig.Duration(name, def)
	if err == nil && d < minLifetime {
		err = fmt.Errorf("%s must be at least %s, not %s", name, minLifetime, d)
	}
	return d, err
}
