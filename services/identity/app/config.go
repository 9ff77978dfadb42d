package app

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"net/url"
	"os"
	"runtime"
	"time"

	"github.com/meterflow/meterflow/platform/callauth"
	"github.com/meterflow/meterflow/platform/envconfig"
	notifyv1 "github.com/meterflow/meterflow/proto/gen/meterflow/notify/v1"
	"github.com/meterflow/meterflow/services/identity/internal/identity"
)

// Service is this process's name: the audience of its service tokens.
const Service = "identity"

// Argon2Params are the argon2id cost parameters of new password hashes.
type Argon2Params struct {
	MemoryKiB   uint32
	Iterations  uint32
	Parallelism uint8
}

// DefaultArgon2Params is OWASP's minimum for argon2id: 19 MiB, 2 passes, 1 lane.
var DefaultArgon2Params = Argon2Params(identity.DefaultArgon2Params)

// DefaultPublicBaseURL is PUBLIC_BASE_URL outside production when unset:
// the local gateway.
const DefaultPublicBaseURL = "http://127.0.0.1:8080"

// DefaultNotifyAddr is NOTIFY_ADDR when unset: the local notify service.
const DefaultNotifyAddr = "127.0.0.1:50054"

// DefaultDatabaseURL is DATABASE_URL when it is unset: the local database.
const DefaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/meterflow_identity?sslmode=disable"

// DatabaseConfigFromEnv reads the configuration of the database-only
// commands (migrate): APP_ENV and DATABASE_URL, without the signing key
// or INTERNAL_AUTH_SECRET, so the init container gets neither.
func DatabaseConfigFromEnv() (Config, error) {
	common, url, err := envconfig.ReadDatabaseOnly(DefaultDatabaseURL)
	return Config{Common: common, DatabaseURL: url}, err
}

// Config is everything the identity process needs; ConfigFromEnv reads it
// from the environment, tests build it directly.
type Config struct {
	// Common holds APP_ENV, INTERNAL_AUTH_SECRET (verifies the service
	// tokens of callers), JWT_ISSUER/JWT_AUDIENCE, SHUTDOWN_GRACE, PPROF_ENABLED.
	envconfig.Common
	GRPCAddr        string
	MetricsAddr     string
	DatabaseURL     string
	AccessTokenTTL  time.Duration
	RefreshTokenTTL time.Duration
	// SigningKey signs access tokens (JWT_SIGNING_KEY_FILE). When nil, New
	// generates an ephemeral key in development and fails in production.
	SigningKey ed25519.PrivateKey
	Argon2     Argon2Params
	// HashConcurrency bounds the argon2id hashes running at once
	// (ARGON2_MAX_CONCURRENT); 0 means runtime.GOMAXPROCS.
	HashConcurrency int
	// Keys verifies access tokens. Optional: when nil, identity's own
	// published keys are read from its database (the same set that
	// GetSigningKeys serves); tests may inject authtest.Keys.
	Keys callauth.KeySet
	// NotifyAddr is the notify service (NOTIFY_ADDR) the outbox hands
	// emails to.
	NotifyAddr string
	// Notify replaces the client of NotifyAddr when set (tests).
	Notify notifyv1.NotifyServiceClient
	// PublicBaseURL is where users reach the gateway (PUBLIC_BASE_URL):
	// the emailed links point at its /app pages.
	PublicBaseURL string
	// Now is the clock of the identity rules (token times, throttling, key
	// retirement); time.Now when nil. Tests use it to move time forward.
	Now func() time.Time
}

// hashConcurrency is HashConcurrency, or the number of usable cores when
// it is unset.
func (c Config) hashConcurrency() int {
	if c.HashConcurrency > 0 {
		return c.HashConcurrency
	}
	return runtime.GOMAXPROCS(0)
}

// ConfigFromEnv reads the configuration from environment variables with
// local defaults (see README). In production every secret is required.
func ConfigFromEnv() (Config, error) {
	common, commonErr := envconfig.ReadCommon()
	c := Config{
		Common:      common,
		GRPCAddr:    envconfig.String("GRPC_ADDR", "127.0.0.1:50051"),
		MetricsAddr: envconfig.StringOrEmpty("METRICS_ADDR", "127.0.0.1:9091"),
		DatabaseURL: envconfig.String("DATABASE_URL", DefaultDatabaseURL),
		NotifyAddr:  envconfig.String("NOTIFY_ADDR", DefaultNotifyAddr),
	}
	c.PublicBaseURL = os.Getenv("PUBLIC_BASE_URL")
	if c.PublicBaseURL == "" && !c.Production() {
		c.PublicBaseURL = DefaultPublicBaseURL
	}
	errs := []error{commonErr}
	durations := []struct {
		name string
		def  time.Duration
		dst  *time.Duration
	}{
		{"ACCESS_TOKEN_TTL", 15 * time.Minute, &c.AccessTokenTTL},
		{"REFRESH_TOKEN_TTL", 720 * time.Hour, &c.RefreshTokenTTL},
	}
	for _, d := range durations {
		v, err := envconfig.Duration(d.name, d.def)
		errs = append(errs, err)
		*d.dst = v
	}
	mem, err := envconfig.PositiveUint("ARGON2_MEMORY_KIB", uint64(DefaultArgon2Params.MemoryKiB), 32)
	errs = append(errs, err)
	iter, err := envconfig.PositiveUint("ARGON2_ITERATIONS", uint64(DefaultArgon2Params.Iterations), 32)
	errs = append(errs, err)
	par, err := envconfig.PositiveUint("ARGON2_PARALLELISM", uint64(DefaultArgon2Params.Parallelism), 8)
	errs = append(errs, err)
	c.Argon2 = Argon2Params{MemoryKiB: uint32(mem), Iterations: uint32(iter), Parallelism: uint8(par)}
	hc, err := envconfig.PositiveUint("ARGON2_MAX_CONCURRENT", uint64(runtime.GOMAXPROCS(0)), 16)
	errs = append(errs, err)
	c.HashConcurrency = int(hc)

	if path := os.Getenv("JWT_SIGNING_KEY_FILE"); path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			errs = append(errs, fmt.Errorf("JWT_SIGNING_KEY_FILE: %w", err))
		} else if c.SigningKey, err = identity.ParsePrivateKeyPEM(data); err != nil {
			errs = append(errs, fmt.Errorf("JWT_SIGNING_KEY_FILE %s: %w", path, err))
		}
	} else if c.Production() {
		errs = append(errs, errors.New("JWT_SIGNING_KEY_FILE is required in production (create one with `identity keygen --out FILE`)"))
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, err
	}
	return c, c.validate()
}

// validate checks the values New relies on.
func (c Config) validate() error {
	errs := []error{c.Common.Validate()}
	if c.AccessTokenTTL <= 0 || c.RefreshTokenTTL <= 0 {
		errs = append(errs, errors.New("ACCESS_TOKEN_TTL and REFRESH_TOKEN_TTL must be positive"))
	}
	if c.Production() && c.SigningKey == nil {
		errs = append(errs, errors.New("JWT_SIGNING_KEY_FILE is required in production"))
	}
	errs = append(errs, c.validatePublicBaseURL())
	if c.Notify == nil && c.NotifyAddr == "" {
		errs = append(errs, errors.New("NOTIFY_ADDR must not be empty"))
	}
	return errors.Join(errs...)
}

// withDevelopmentDefaults fills what a development config built in code
// (in-process stacks) leaves empty: PUBLIC_BASE_URL and NOTIFY_ADDR.
// Production gets no default.
func (c Config) withDevelopmentDefaults() Config {
	if c.Production() {
		return c
	}
	if c.PublicBaseURL == "" {
		c.PublicBaseURL = DefaultPublicBaseURL
	}
	if c.NotifyAddr == "" {
		c.NotifyAddr = DefaultNotifyAddr
	}
	return c
}

// validatePublicBaseURL checks PUBLIC_BASE_URL: required in production
// (the emailed links would point nowhere), an absolute http(s) URL without
// credentials, query or fragment, https in production.
func (c Config) validatePublicBaseURL() error {
	if c.PublicBaseURL == "" {
		return errors.New("PUBLIC_BASE_URL is required in production: the gateway's public URL, e.g. https://meterflow.example.com (the emailed links point at its /app pages)")
	}
	u, err := url.Parse(c.PublicBaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("PUBLIC_BASE_URL %q must be an absolute http(s) URL without credentials, query or fragment", c.PublicBaseURL)
	}
	if c.Production() && u.Scheme != "https" {
		return fmt.Errorf("PUBLIC_BASE_URL %q must be https in production", c.PublicBaseURL)
	}
	return nil
}
