package envconfig

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/meterflow/meterflow/platform/callauth"
)

// The deployment environments APP_ENV accepts.
const (
	Development = "development"
	Production  = "production"
)

// Common is the part of the configuration every process shares: the
// environment, the service-token secret, the access tokens' issuer and
// audience, the shutdown grace and pprof. Each process's Config embeds it.
//
// The environment fails closed: development defaults are used only when
// APP_ENV=development is set explicitly; an unset APP_ENV, and the zero
// value of Env, are production.
type Common struct {
	// Env is APP_ENV: Development or Production (the default).
	Env string
	// InternalAuthSecret signs and verifies service tokens
	// (INTERNAL_AUTH_SECRET, at least callauth.MinSecretLen bytes).
	InternalAuthSecret []byte
	// InternalAuthSecretPrevious, optional, is also accepted to verify
	// service tokens (INTERNAL_AUTH_SECRET_PREVIOUS), never used to sign:
	// it lets INTERNAL_AUTH_SECRET rotate without failed calls between
	// processes on the old and on the new secret (callauth.AcceptPrevious).
	InternalAuthSecretPrevious []byte
	// JWTIssuer and JWTAudience are the required iss and aud of access tokens.
	JWTIssuer   string
	JWTAudience string
	// ShutdownGrace is how long in-flight work may finish on SIGTERM.
	ShutdownGrace time.Duration
	// Pprof serves /debug/pprof on the admin/metrics port (PPROF_ENABLED;
	// default on in development, off in production).
	Pprof bool
	// Warnings are the development defaults taken while reading the
	// environment; the process logs them when it starts.
	Warnings []string
}

// DefaultShutdownGrace is SHUTDOWN_GRACE when it is unset, and the grace
// of a Common built without one (tests).
const DefaultShutdownGrace = 10 * time.Second

// Base returns c itself. A process's Config embeds Common and so has Base
// too: the process skeleton (platform/process) reads the common settings
// of any Config through it.
func (c Common) Base() Common { return c }

// Grace is how long in-flight work may finish on shutdown: ShutdownGrace,
// or DefaultShutdownGrace when it is not set.
func (c Common) Grace() time.Duration {
	if c.ShutdownGrace > 0 {
		return c.ShutdownGrace
	}
	return DefaultShutdownGrace
}

// Production reports whether development defaults are refused: everything
// but an explicit APP_ENV=development is production.
func (c Common) Production() bool { return c.Env != Development }

// ReadCommon reads the shared settings. Errors name the variable and what
// it accepts, all at once; the settings read are returned with them, so a
// process can report its own errors in the same message.
func ReadCommon() (Common, error) {
	c := Common{
		Env:         String("APP_ENV", Production),
		JWTIssuer:   String("JWT_ISSUER", "meterflow-identity"),
		JWTAudience: String("JWT_AUDIENCE", "meterflow-api"),
	}
	var errs []error
	if c.Env != Development && c.Env != Production {
		errs = append(errs, fmt.Errorf("APP_ENV must be %s or %s, not %q", Development, Production, c.Env))
	}
	var err error
	c.ShutdownGrace, err = Duration("SHUTDOWN_GRACE", DefaultShutdownGrace)
	errs = append(errs, err)
	c.Pprof, err = Bool("PPROF_ENABLED", !c.Production())
	errs = append(errs, err)
	secret, err := c.Secret("INTERNAL_AUTH_SECRET", callauth.DevInternalAuthSecret,
		"the same random value of at least 32 bytes for every process of the deployment: head -c 48 /dev/urandom | base64")
	errs = append(errs, err)
	c.InternalAuthSecret = []byte(secret)
	if prev := os.Getenv("INTERNAL_AUTH_SECRET_PREVIOUS"); prev != "" {
		c.InternalAuthSecretPrevious = []byte(prev)
	}
	return c, errors.Join(errs...)
}

// Secret reads a secret variable. When it is set, its value is returned.
// When it is unset, production refuses to start with an error that says
// what to set (hint), and development takes dev and records a warning.
// Validate, through RefuseDevValue, refuses dev itself in production.
func (c *Common) Secret(name, dev, hint string) (string, error) {
	if v := os.Getenv(name); v != "" {
		return v, nil
	}
	if c.Production() {
		return "", fmt.Errorf("%s is required in production (%s)", name, hint)
	}
	c.Warnings = append(c.Warnings, name+" is not set: using the fixed development value (APP_ENV=development)")
	return dev, nil
}

// RefuseDevValue returns an error when value is a development default and
// the process runs in production: a development secret is public.
func (c Common) RefuseDevValue(name, value, dev string) error {
	if c.Production() && value != "" && value == dev {
		return fmt.Errorf("%s must not be the development value in production", name)
	}
	return nil
}

// Validate checks the shared values every process relies on; each
// process's validate calls it, so tests that build a Config directly go
// through the same rules as ConfigFromEnv.
func (c Common) Validate() error {
	var errs []error
	if c.Env != Development && c.Env != Production && c.Env != "" {
		errs = append(errs, fmt.Errorf("APP_ENV must be %s or %s, not %q", Development, Production, c.Env))
	}
	if len(c.InternalAuthSecret) < callauth.MinSecretLen {
		errs = append(errs, fmt.Errorf("INTERNAL_AUTH_SECRET must be at least %d bytes", callauth.MinSecretLen))
	}
	errs = append(errs, c.RefuseDevValue("INTERNAL_AUTH_SECRET", string(c.InternalAuthSecret), callauth.DevInternalAuthSecret))
	if prev := c.InternalAuthSecretPrevious; len(prev) > 0 {
		if len(prev) < callauth.MinSecretLen {
			errs = append(errs, fmt.Errorf("INTERNAL_AUTH_SECRET_PREVIOUS must be at least %d bytes", callauth.MinSecretLen))
		}
		errs = append(errs, c.RefuseDevValue("INTERNAL_AUTH_SECRET_PREVIOUS", string(prev), callauth.DevInternalAuthSecret))
	}
	if c.JWTIssuer == "" || c.JWTAudience == "" {
		errs = append(errs, errors.New("JWT_ISSUER and JWT_AUDIENCE must not be empty"))
	}
	return errors.Join(errs...)
}

// Bool reads true/false (and the other spellings strconv.ParseBool
// accepts), or def when unset.
func Bool(name string, def bool) (bool, error) {
	v := os.Getenv(name)
	if v == "" {
		return def, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%s must be true or false, not %q", name, v)
	}
	return b, nil
}

// ReadDatabaseOnly reads what a database-only command needs (`migrate`,
// `wallet verify`; platform/process, DatabaseConfig): APP_ENV and
// DATABASE_URL (defaultURL when unset), and no secret, so an init
// container or a CronJob runs with the database's Secret alone. The pool
// size (DATABASE_POOL_MAX_CONNS) and LOG_LEVEL are read where they are used.
func ReadDatabaseOnly(defaultURL string) (Common, string, error) {
	c := Common{Env: String("APP_ENV", Production)}
	if c.Env != Development && c.Env != Production {
		return c, "", fmt.Errorf("APP_ENV must be %s or %s, not %q", Development, Production, c.Env)
	}
	return c, String("DATABASE_URL", defaultURL), nil
}
