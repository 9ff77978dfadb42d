package app

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"time"

	"github.com/meterflow/meterflow/gateway/console"
	"github.com/meterflow/meterflow/platform/callauth"
	"github.com/meterflow/meterflow/platform/envconfig"
)

// Service is this process's name: the issuer of its service tokens.
const Service = "gateway"

// Config is everything the gateway needs; ConfigFromEnv reads it from the
// environment (see README), tests build it directly.
type Config struct {
	// Common holds APP_ENV, INTERNAL_AUTH_SECRET (signs the service tokens
	// of calls to the services), JWT_ISSUER/JWT_AUDIENCE, SHUTDOWN_GRACE
	// (how long in-flight requests may finish) and PPROF_ENABLED.
	envconfig.Common
	// HTTPAddr is the public listener (main uses it; Serve takes a listener).
	HTTPAddr string
	// AdminAddr serves /metrics and /debug/pprof; empty disables it.
	AdminAddr    string
	IdentityAddr string
	WalletAddr   string
	WorkflowAddr string
	// NotifyAddr is the notify service (users' webhook endpoints).
	NotifyAddr string
	// RedisURL is the Redis of the shared rate limits.
	RedisURL string
	// RateLimitPrefix namespaces the rate-limit keys in Redis (tests use a unique one).
	RateLimitPrefix string
	// Per-minute budgets of the rate-limit classes; 0 disables a class.
	AuthPerMinute int
	RunsPerMinute int
	APIPerMinute  int
	// TopUpsPerMinute limits top-up creation per user (each calls Stripe).
	TopUpsPerMinute int
	// EmailsPerHour limits password-reset requests per address and resent
	// verification links per user (RATE_LIMIT_EMAILS_PER_HOUR).
	EmailsPerHour int
	// RequireVerifiedEmail refuses top-ups and runs until the user's email
	// is verified (REQUIRE_VERIFIED_EMAIL; true in production, false in
	// development by default).
	RequireVerifiedEmail bool
	// TrustedProxyHeader (e.g. X-Forwarded-For) is read only on connections from TrustedProxies (CIDRs, comma separated).
	TrustedProxyHeader string
	TrustedProxies     string
	// CORSAllowedOrigins lists the origins allowed by CORS; empty allows none.
	CORSAllowedOrigins []string
	// HSTSMaxAge is the Strict-Transport-Security max-age in seconds; 0 sends none.
	HSTSMaxAge int
	// Keys verifies access tokens. Optional: when nil, a callauth.RemoteKeySet
	// against identity is used; tests may inject authtest.Keys.
	Keys callauth.KeySet
	// Console configures the admin console at /admin (COOKIE_SECURE,
	// CONSOLE_SESSION_TTL, CONSOLE_IDLE_TIMEOUT, CONSOLE_LOGIN_PER_MINUTE,
	// SESSION_ENCRYPTION_KEY: New seals sessions with the development key
	// when it is empty, which validate refuses in production).
	Console console.Config
	// TokenCacheSize bounds the cache of verified access tokens (0 disables it).
	TokenCacheSize int
	// CallTimeout bounds ordinary service calls; RunTimeout caps sync runs.
	CallTimeout time.Duration
	RunTimeout  time.Duration
	// HTTP server timeouts.
	ReadTimeout  time.Duration
	WriteTimeout time.Duration
	IdleTimeout  time.Duration
}

// ConfigFromEnv reads the configuration from environment variables with
// local defaults. In production every secret is required.
func ConfigFromEnv() (Config, error) {
	common, commonErr := envconfig.ReadCommon()
	c := Config{
		Common:             common,
		HTTPAddr:           envconfig.String("HTTP_ADDR", "127.0.0.1:8080"),
		AdminAddr:          envconfig.StringOrEmpty("ADMIN_ADDR", "127.0.0.1:9090"),
		IdentityAddr:       envconfig.String("IDENTITY_ADDR", "127.0.0.1:50051"),
		WalletAddr:         envconfig.String("WALLET_ADDR", "127.0.0.1:50052"),
		WorkflowAddr:       envconfig.String("WORKFLOW_ADDR", "127.0.0.1:50053"),
		NotifyAddr:         envconfig.String("NOTIFY_ADDR", "127.0.0.1:50054"),
		RedisURL:           envconfig.String("REDIS_URL", "redis://127.0.0.1:6379/0"),
		RateLimitPrefix:    envconfig.String("RATE_LIMIT_REDIS_PREFIX", "meterflow:gateway:"),
		TrustedProxyHeader: os.Getenv("TRUSTED_PROXY_HEADER"),
		TrustedProxies:     os.Getenv("TRUSTED_PROXIES"),
	}
	for _, o := range strings.Split(os.Getenv("CORS_ALLOWED_ORIGINS"), ",") {
		if o = strings.TrimSpace(o); o != "" {
			c.CORSAllowedOrigins = append(c.CORSAllowedOrigins, o)
		}
	}
	errs := []error{commonErr}
	ints := []struct {
		name string
		def  int
		dst  *int
	}{
		{"RATE_LIMIT_AUTH_PER_MINUTE", 20, &c.AuthPerMinute},
		{"RATE_LIMIT_RUNS_PER_MINUTE", 10, &c.RunsPerMinute},
		{"RATE_LIMIT_API_PER_MINUTE", 600, &c.APIPerMinute},
		{"RATE_LIMIT_TOPUPS_PER_MINUTE", 5, &c.TopUpsPerMinute},
		{"RATE_LIMIT_EMAILS_PER_HOUR", 5, &c.EmailsPerHour},
		{"TOKEN_CACHE_SIZE", 10_000, &c.TokenCacheSize},
		{"HSTS_MAX_AGE", hstsDefault(c.Production()), &c.HSTSMaxAge},
	}
	for _, i := range ints {
		v, err := envconfig.NonNegativeInt(i.name, i.def)
		errs = append(errs, err)
		*i.dst = v
	}
	durations := []struct {
		name string
		def  time.Duration
		dst  *time.Duration
	}{
		{"UPSTREAM_TIMEOUT", 5 * time.Second, &c.CallTimeout},
		{"RUN_SYNC_TIMEOUT", 310 * time.Second, &c.RunTimeout},
		{"HTTP_READ_TIMEOUT", 15 * time.Second, &c.ReadTimeout},
		{"HTTP_WRITE_TIMEOUT", 15 * time.Second, &c.WriteTimeout},
		{"HTTP_IDLE_TIMEOUT", 60 * time.Second, &c.IdleTimeout},
	}
	var err error
	for _, d := range durations {
		v, err := envconfig.Duration(d.name, d.def)
		errs = append(errs, err)
		*d.dst = v
	}
	c.RequireVerifiedEmail, err = envconfig.Bool("REQUIRE_VERIFIED_EMAIL", c.Production())
	errs = append(errs, err)
	con, err := console.ConfigFromEnv()
	errs = append(errs, err)
	c.Console = con
	if err := errors.Join(errs...); err != nil {
		return Config{}, err
	}
	return c, c.validate()
}

// hstsDefault: browsers must only be told to insist on HTTPS where it is
// served (production, behind TLS); locally it would break plain-HTTP hosts.
func hstsDefault(production bool) int {
	if production {
		return 63072000 // two years
	}
	return 0
}

func (c Config) validate() error {
	errs := []error{c.Common.Validate()}
	if c.Production() && (len(c.Console.SessionKey) == 0 || bytes.Equal(c.Console.SessionKey, console.DevSessionKey())) {
		errs = append(errs, errors.New("SESSION_ENCRYPTION_KEY is required in production and must not be the development value (base64 of 32 random bytes: openssl rand -base64 32)"))
	}
	if c.IdentityAddr == "" || c.WalletAddr == "" || c.WorkflowAddr == "" || c.NotifyAddr == "" {
		errs = append(errs, errors.New("IDENTITY_ADDR, WALLET_ADDR and WORKFLOW_ADDR must not be empty"))
	}
	if c.RedisURL == "" {
		errs = append(errs, errors.New("REDIS_URL must not be empty"))
	}
	if c.AuthPerMinute < 0 || c.RunsPerMinute < 0 || c.APIPerMinute < 0 || c.TopUpsPerMinute < 0 || c.EmailsPerHour < 0 {
		errs = append(errs, errors.New("rate limits must not be negative"))
	}
	return errors.Join(errs...)
}
