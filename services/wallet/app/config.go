package app

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"time"

	"github.com/meterflow/meterflow/platform/callauth"
	"github.com/meterflow/meterflow/platform/envconfig"
	"github.com/meterflow/meterflow/platform/telemetry"
)

// Service is this process's name: the audience of its service tokens.
const Service = "wallet"

// DevInternalAuthSecret is INTERNAL_AUTH_SECRET when it is unset outside
// production (a warning is logged); production refuses to start without it.
const DevInternalAuthSecret = callauth.DevInternalAuthSecret

// Development defaults of the Stripe settings. DevStripeSecretKey is what
// stripe-mock accepts; DevWebhookSecret is what `wallet dev-pay` signs with.
const (
	DevStripeSecretKey = "sk_test_123"
	DevWebhookSecret   = "whsec_dev_meterflow"
	DevStripeAPIBase   = "http://127.0.0.1:12111"
)

// Config is everything the wallet process needs; ConfigFromEnv reads it from
// the environment, tests build it directly.
type Config struct {
	// Env is APP_ENV: "development" or "production".
	Env         string
	GRPCAddr    string
	MetricsAddr string
	// Pprof serves /debug/pprof on the same port (PPROF_ENABLED;
	// default on in development, off in production).
	Pprof       bool
	DatabaseURL string
	// InternalAuthSecret verifies the service tokens of callers.
	InternalAuthSecret []byte
	JWTIssuer          string
	JWTAudience        string
	// IdentityAddr is dialled for identity's public keys when Keys is nil.
	IdentityAddr string
	// Keys verifies access tokens. Optional: when nil, a
	// callauth.RemoteKeySet against IdentityAddr is used; tests inject
	// authtest.Keys.
	Keys          callauth.KeySet
	ShutdownGrace time.Duration

	StripeSecretKey     string
	StripeWebhookSecret string
	// StripeAPIBase is the Stripe API URL; "" means Stripe's own.
	StripeAPIBase      string
	TopUpMinCents      int64
	TopUpMaxCents      int64
	Currency           string
	CheckoutSuccessURL string
	CheckoutCancelURL  string
	// HoldSweepInterval is how often expired holds are released; 0 disables
	// the sweeper in this process (tests call the sweep directly).
	HoldSweepInterval time.Duration
	// HoldDefaultTTL is the expiry of holds reserved without one.
	HoldDefaultTTL time.Duration
	// IdempotencyTTL is how long Idempotency-Key records are kept (≥ 24h).
	IdempotencyTTL time.Duration

	// warnings collected while reading the environment, logged by New.
	warnings []string
}

// Production reports whether APP_ENV is production.
func (c Config) Production() bool { return c.Env == "production" }

// ConfigFromEnv reads the configuration from environment variables with
// local defaults (see README). In production every secret is required.
func ConfigFromEnv() (Config, error) {
	c := Config{
		Env:                 envconfig.String("APP_ENV", "development"),
		GRPCAddr:            envconfig.String("GRPC_ADDR", "127.0.0.1:50052"),
		MetricsAddr:         envconfig.StringOrEmpty("METRICS_ADDR", "127.0.0.1:9092"),
		DatabaseURL:         envconfig.String("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/meterflow_wallet?sslmode=disable"),
		JWTIssuer:           envconfig.String("JWT_ISSUER", "meterflow-identity"),
		JWTAudience:         envconfig.String("JWT_AUDIENCE", "meterflow-api"),
		IdentityAddr:        envconfig.String("IDENTITY_ADDR", "127.0.0.1:50051"),
		StripeSecretKey:     os.Getenv("STRIPE_SECRET_KEY"),
		StripeWebhookSecret: os.Getenv("STRIPE_WEBHOOK_SECRET"),
		StripeAPIBase:       os.Getenv("STRIPE_API_BASE"),
		Currency:            envconfig.String("CURRENCY", "usd"),
		CheckoutSuccessURL:  envconfig.String("CHECKOUT_SUCCESS_URL", "http://localhost:8080/topup/success"),
		CheckoutCancelURL:   envconfig.String("CHECKOUT_CANCEL_URL", "http://localhost:8080/topup/cancel"),
	}
	if c.Env != "development" && c.Env != "production" {
		return Config{}, fmt.Errorf("APP_ENV must be development or production, not %q", c.Env)
	}
	var err error
	if c.Pprof, err = telemetry.PprofEnabled(c.Production()); err != nil {
		return Config{}, err
	}
	var errs []error
	for _, d := range []struct {
		name string
		def  time.Duration
		dst  *time.Duration
		zero bool
	}{
		{"SHUTDOWN_GRACE", 10 * time.Second, &c.ShutdownGrace, false},
		{"HOLD_SWEEP_INTERVAL", 30 * time.Second, &c.HoldSweepInterval, true},
		{"HOLD_DEFAULT_TTL", 15 * time.Minute, &c.HoldDefaultTTL, false},
		{"IDEMPOTENCY_TTL", 48 * time.Hour, &c.IdempotencyTTL, false},
	} {
		read := envconfig.Duration
		if d.zero {
			read = envconfig.DurationOrZero
		}
		v, err := read(d.name, d.def)
		errs = append(errs, err)
		*d.dst = v
	}
	c.TopUpMinCents, err = envconfig.PositiveInt("TOPUP_MIN_CENTS", 500)
	errs = append(errs, err)
	c.TopUpMaxCents, err = envconfig.PositiveInt("TOPUP_MAX_CENTS", 100000)
	errs = append(errs, err)

	switch secret := os.Getenv("INTERNAL_AUTH_SECRET"); {
	case secret != "":
		c.InternalAuthSecret = []byte(secret)
	case c.Production():
		errs = append(errs, errors.New("INTERNAL_AUTH_SECRET is required in production"))
	default:
		c.InternalAuthSecret = []byte(DevInternalAuthSecret)
		c.warnings = append(c.warnings, "INTERNAL_AUTH_SECRET is not set: using the fixed development secret")
	}
	if !c.Production() {
		if c.StripeSecretKey == "" {
			c.StripeSecretKey = DevStripeSecretKey
			if c.StripeAPIBase == "" {
				c.StripeAPIBase = DevStripeAPIBase
			}
			c.warnings = append(c.warnings, "STRIPE_SECRET_KEY is not set: using stripe-mock's test key against "+c.StripeAPIBase)
		}
		if c.StripeWebhookSecret == "" {
			c.StripeWebhookSecret = DevWebhookSecret
			c.warnings = append(c.warnings, "STRIPE_WEBHOOK_SECRET is not set: using the development secret "+DevWebhookSecret+" (what `wallet dev-pay` signs with)")
		}
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, err
	}
	return c, c.validate()
}

// validate checks the values New relies on.
func (c Config) validate() error {
	var errs []error
	if len(c.InternalAuthSecret) < callauth.MinSecretLen {
		errs = append(errs, fmt.Errorf("INTERNAL_AUTH_SECRET must be at least %d bytes", callauth.MinSecretLen))
	}
	if c.JWTIssuer == "" || c.JWTAudience == "" {
		errs = append(errs, errors.New("JWT_ISSUER and JWT_AUDIENCE must not be empty"))
	}
	if c.Keys == nil && c.IdentityAddr == "" {
		errs = append(errs, errors.New("IDENTITY_ADDR must be set (access tokens are verified with identity's keys)"))
	}
	if c.StripeSecretKey == "" {
		errs = append(errs, errors.New("STRIPE_SECRET_KEY is required in production"))
	}
	if c.StripeWebhookSecret == "" {
		errs = append(errs, errors.New("STRIPE_WEBHOOK_SECRET is required in production"))
	}
	if c.Production() && (c.StripeSecretKey == DevStripeSecretKey || c.StripeWebhookSecret == DevWebhookSecret) {
		errs = append(errs, errors.New("the development Stripe key or webhook secret is refused in production"))
	}
	if c.StripeAPIBase != "" {
		if u, err := url.Parse(c.StripeAPIBase); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("STRIPE_API_BASE must be an http(s) URL, not %q", c.StripeAPIBase))
		}
	}
	if c.TopUpMinCents <= 0 || c.TopUpMaxCents < c.TopUpMinCents {
		errs = append(errs, errors.New("TOPUP_MIN_CENTS must be positive and at most TOPUP_MAX_CENTS"))
	}
	if len(c.Currency) != 3 {
		errs = append(errs, fmt.Errorf("CURRENCY must be a three-letter ISO code such as usd, not %q", c.Currency))
	}
	for name, v := range map[string]string{"CHECKOUT_SUCCESS_URL": c.CheckoutSuccessURL, "CHECKOUT_CANCEL_URL": c.CheckoutCancelURL} {
		if u, err := url.Parse(v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("%s must be an absolute http(s) URL, not %q", name, v))
		}
	}
	if c.HoldDefaultTTL <= 0 {
		errs = append(errs, errors.New("HOLD_DEFAULT_TTL must be positive"))
	}
	if c.IdempotencyTTL < 24*time.Hour {
		errs = append(errs, errors.New("IDEMPOTENCY_TTL must be at least 24h (the API promises keys are kept that long)"))
	}
	return errors.Join(errs...)
}
