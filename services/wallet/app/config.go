package app

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/meterflow/meterflow/platform/callauth"
	"github.com/meterflow/meterflow/platform/envconfig"
	"github.com/meterflow/meterflow/services/wallet/internal/wallet"
)

// Service is this process's name: the audience of its service tokens.
const Service = "wallet"

// Development defaults of the Stripe settings. DevStripeSecretKey is what
// stripe-mock accepts; DevWebhookSecret is what `wallet dev-pay` signs with.
const (
	DevStripeSecretKey = "sk_test_123"
	DevWebhookSecret   = "whsec_dev_meterflow"
	DevStripeAPIBase   = "http://127.0.0.1:12111"
)

// DevPublicBaseURL is PUBLIC_BASE_URL in development when unset: the
// gateway of `make run`.
const DevPublicBaseURL = "http://127.0.0.1:8080"

// DefaultDatabaseURL is DATABASE_URL when it is unset: the local database.
const DefaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/meterflow_wallet?sslmode=disable"

// DatabaseConfigFromEnv reads the configuration of the database-only
// commands (migrate, verify, parked): APP_ENV and DATABASE_URL. They need
// no secret, so the init container and the verify CronJob get none.
func DatabaseConfigFromEnv() (Config, error) {
	common, url, err := envconfig.ReadDatabaseOnly(DefaultDatabaseURL)
	return Config{Common: common, DatabaseURL: url}, err
}

// DefaultReserveBatchMax is WALLET_RESERVE_BATCH_MAX's (and
// WALLET_SETTLE_BATCH_MAX's) default, and MaxReserveBatchMax their largest
// value: one batch is one statement whose arrays and locks grow with it.
const (
	DefaultReserveBatchMax = 64
	MaxReserveBatchMax     = 1000
)

// Config is everything the wallet process needs; ConfigFromEnv reads it from
// the environment, tests build it directly.
type Config struct {
	// Common holds APP_ENV, INTERNAL_AUTH_SECRET (verifies the service
	// tokens of callers), JWT_ISSUER/JWT_AUDIENCE, SHUTDOWN_GRACE, PPROF_ENABLED.
	envconfig.Common
	GRPCAddr    string
	MetricsAddr string
	DatabaseURL string
	// IdentityAddr is dialled for identity's public keys when Keys is nil.
	IdentityAddr string
	// Keys verifies access tokens. Optional: when nil, a
	// callauth.RemoteKeySet against IdentityAddr is used; tests inject
	// authtest.Keys.
	Keys callauth.KeySet

	StripeSecretKey     string
	StripeWebhookSecret string
	// StripeAPIBase is the Stripe API URL; "" means Stripe's own.
	StripeAPIBase      string
	TopUpMinCents      int64
	TopUpMaxCents      int64
	Currency           string
	CheckoutSuccessURL string
	CheckoutCancelURL  string
	// CheckoutAllowedOrigins are origins a top-up request's own success_url
	// and cancel_url may use besides those of CheckoutSuccessURL,
	// CheckoutCancelURL and PublicBaseURL (CHECKOUT_ALLOWED_ORIGINS,
	// comma-separated).
	CheckoutAllowedOrigins []string
	// PublicBaseURL is the gateway's public URL (PUBLIC_BASE_URL), optional
	// here: its origin may be used by success_url and cancel_url.
	PublicBaseURL string
	// AdjustmentMaxCents caps an admin adjustment either way
	// (ADJUSTMENT_MAX_CENTS).
	AdjustmentMaxCents int64
	// HoldSweepInterval is how often expired holds are released; 0 disables
	// the sweeper in this process (tests call the sweep directly).
	HoldSweepInterval time.Duration
	// HoldDefaultTTL is the expiry of holds reserved without one.
	HoldDefaultTTL time.Duration
	// IdempotencyTTL is how long Idempotency-Key records are kept (≥ 24h).
	IdempotencyTTL time.Duration
	// JobWorkers is how many River jobs (automatic charges) this process
	// works at once (JOB_WORKERS); 0 only queues them for other replicas.
	JobWorkers int
	// JobRescueAfter is when a job still running counts as abandoned by a
	// process that died, and runs again (JOB_RESCUE_AFTER).
	JobRescueAfter time.Duration
	// AutoTopUpCapMultiple × a user's auto top-up amount caps the automatic
	// charges of a UTC month (AUTO_TOPUP_MONTHLY_CAP_MULTIPLE).
	AutoTopUpCapMultiple int64
	// NotifyAddr is the notify service, to which the outbox hands emails
	// and webhook events (NOTIFY_ADDR).
	NotifyAddr string
	// ReserveBatchMax is the most holds one reserve transaction decides
	// (WALLET_RESERVE_BATCH_MAX, ADR 0017); 1 reserves one by one, 0 means
	// DefaultReserveBatchMax.
	ReserveBatchMax int
	// SettleBatchMax is the most captures and releases one transaction
	// applies (WALLET_SETTLE_BATCH_MAX, ADR 0018); 1 settles one by one, 0
	// means DefaultReserveBatchMax.
	SettleBatchMax int
}

// ConfigFromEnv reads the configuration from environment variables with
// local defaults (see README). In production every secret is required.
func ConfigFromEnv() (Config, error) {
	common, commonErr := envconfig.ReadCommon()
	c := Config{
		Common:              common,
		GRPCAddr:            envconfig.String("GRPC_ADDR", "127.0.0.1:50052"),
		MetricsAddr:         envconfig.StringOrEmpty("METRICS_ADDR", "127.0.0.1:9092"),
		DatabaseURL:         envconfig.String("DATABASE_URL", DefaultDatabaseURL),
		IdentityAddr:        envconfig.String("IDENTITY_ADDR", "127.0.0.1:50051"),
		StripeSecretKey:     os.Getenv("STRIPE_SECRET_KEY"),
		StripeWebhookSecret: os.Getenv("STRIPE_WEBHOOK_SECRET"),
		StripeAPIBase:       os.Getenv("STRIPE_API_BASE"),
		Currency:            envconfig.String("CURRENCY", "usd"),
		CheckoutSuccessURL:  envconfig.String("CHECKOUT_SUCCESS_URL", "http://localhost:8080/topup/success"),
		CheckoutCancelURL:   envconfig.String("CHECKOUT_CANCEL_URL", "http://localhost:8080/topup/cancel"),
		PublicBaseURL:       os.Getenv("PUBLIC_BASE_URL"),
		NotifyAddr:          envconfig.String("NOTIFY_ADDR", "127.0.0.1:50054"),
	}
	for _, o := range strings.Split(os.Getenv("CHECKOUT_ALLOWED_ORIGINS"), ",") {
		if o = strings.TrimSpace(o); o != "" {
			c.CheckoutAllowedOrigins = append(c.CheckoutAllowedOrigins, o)
		}
	}
	errs := []error{commonErr}
	for _, d := range []struct {
		name string
		def  time.Duration
		dst  *time.Duration
		zero bool
	}{
		{"HOLD_SWEEP_INTERVAL", 30 * time.Second, &c.HoldSweepInterval, true},
		{"HOLD_DEFAULT_TTL", 15 * time.Minute, &c.HoldDefaultTTL, false},
		{"IDEMPOTENCY_TTL", 48 * time.Hour, &c.IdempotencyTTL, false},
		{"JOB_RESCUE_AFTER", 10 * time.Minute, &c.JobRescueAfter, false},
	} {
		read := envconfig.Duration
		if d.zero {
			read = envconfig.DurationOrZero
		}
		v, err := read(d.name, d.def)
		errs = append(errs, err)
		*d.dst = v
	}
	var err error
	c.TopUpMinCents, err = envconfig.PositiveInt("TOPUP_MIN_CENTS", 500)
	errs = append(errs, err)
	c.TopUpMaxCents, err = envconfig.PositiveInt("TOPUP_MAX_CENTS", 100000)
	errs = append(errs, err)
	c.AdjustmentMaxCents, err = envconfig.PositiveInt("ADJUSTMENT_MAX_CENTS", 1_000_000)
	errs = append(errs, err)
	c.AutoTopUpCapMultiple, err = envconfig.PositiveInt("AUTO_TOPUP_MONTHLY_CAP_MULTIPLE", 10)
	errs = append(errs, err)
	c.JobWorkers, err = envconfig.NonNegativeInt("JOB_WORKERS", 2)
	errs = append(errs, err)
	batchMax, err := envconfig.PositiveInt("WALLET_RESERVE_BATCH_MAX", DefaultReserveBatchMax)
	errs = append(errs, err)
	c.ReserveBatchMax = int(min(batchMax, MaxReserveBatchMax+1)) // validate refuses more
	settleMax, err := envconfig.PositiveInt("WALLET_SETTLE_BATCH_MAX", DefaultReserveBatchMax)
	errs = append(errs, err)
	c.SettleBatchMax = int(min(settleMax, MaxReserveBatchMax+1))

	if !c.Production() {
		if c.PublicBaseURL == "" {
			c.PublicBaseURL = DevPublicBaseURL
		}
		if c.StripeSecretKey == "" {
			c.StripeSecretKey = DevStripeSecretKey
			if c.StripeAPIBase == "" {
				c.StripeAPIBase = DevStripeAPIBase
			}
			c.Warnings = append(c.Warnings, "STRIPE_SECRET_KEY is not set: using stripe-mock's test key against "+c.StripeAPIBase)
		}
		if c.StripeWebhookSecret == "" && TestModeStripeKey(c.StripeSecretKey) {
			c.StripeWebhookSecret = DevWebhookSecret
			c.Warnings = append(c.Warnings, "STRIPE_WEBHOOK_SECRET is not set: using the development secret "+DevWebhookSecret+" (what `wallet dev-pay` signs with)")
		}
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, err
	}
	return c, c.validate()
}

// TestModeStripeKey reports whether key is a Stripe test-mode secret or
// restricted key (sk_test_..., rk_test_...), which cannot move real money.
func TestModeStripeKey(key string) bool {
	return strings.HasPrefix(key, "sk_test_") || strings.HasPrefix(key, "rk_test_")
}

// validate checks the values New relies on.
func (c Config) validate() error {
	errs := []error{c.Common.Validate()}
	if c.Keys == nil && c.IdentityAddr == "" {
		errs = append(errs, errors.New("IDENTITY_ADDR must be set (access tokens are verified with identity's keys)"))
	}
	if c.StripeSecretKey == "" {
		errs = append(errs, errors.New("STRIPE_SECRET_KEY is required in production (a restricted or secret key from the Stripe dashboard)"))
	}
	if c.StripeWebhookSecret == "" {
		errs = append(errs, errors.New("STRIPE_WEBHOOK_SECRET is required (the endpoint's signing secret, whsec_..., from the Stripe dashboard or `stripe listen`)"))
	}
	errs = append(errs,
		c.RefuseDevValue("STRIPE_SECRET_KEY", c.StripeSecretKey, DevStripeSecretKey),
		c.RefuseDevValue("STRIPE_WEBHOOK_SECRET", c.StripeWebhookSecret, DevWebhookSecret))
	// The development webhook secret is public: with a key that moves real
	// money it would let anyone sign a credit, whatever APP_ENV says.
	if !TestModeStripeKey(c.StripeSecretKey) && c.StripeWebhookSecret == DevWebhookSecret {
		errs = append(errs, errors.New("STRIPE_WEBHOOK_SECRET is the public development secret, which never runs with a live Stripe key: set the endpoint's own signing secret"))
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
	if _, err := c.returnOrigins(); err != nil {
		errs = append(errs, err)
	}
	if c.AdjustmentMaxCents <= 0 {
		errs = append(errs, errors.New("ADJUSTMENT_MAX_CENTS must be positive"))
	}
	if c.HoldDefaultTTL <= 0 {
		errs = append(errs, errors.New("HOLD_DEFAULT_TTL must be positive"))
	}
	if c.Production() && c.PublicBaseURL == "" {
		errs = append(errs, errors.New("PUBLIC_BASE_URL is required in production: the links in the wallet's emails (low balance, failed automatic top-up) point at its /app pages"))
	}
	if c.JobWorkers > 0 && c.NotifyAddr == "" {
		errs = append(errs, errors.New("NOTIFY_ADDR must be set (the outbox hands emails and webhook events to the notify service)"))
	}
	if c.JobWorkers < 0 || c.JobWorkers > 100 {
		errs = append(errs, errors.New("JOB_WORKERS must be between 0 and 100"))
	}
	if c.ReserveBatchMax < 0 || c.ReserveBatchMax > MaxReserveBatchMax {
		errs = append(errs, fmt.Errorf("WALLET_RESERVE_BATCH_MAX must be at most %d (1 reserves one by one)", MaxReserveBatchMax))
	}
	if c.SettleBatchMax < 0 || c.SettleBatchMax > MaxReserveBatchMax {
		errs = append(errs, fmt.Errorf("WALLET_SETTLE_BATCH_MAX must be at most %d (1 captures and releases one by one)", MaxReserveBatchMax))
	}
	if c.AutoTopUpCapMultiple < 0 {
		errs = append(errs, errors.New("AUTO_TOPUP_MONTHLY_CAP_MULTIPLE must be positive"))
	}
	if c.IdempotencyTTL < 24*time.Hour {
		errs = append(errs, errors.New("IDEMPOTENCY_TTL must be at least 24h (the API promises keys are kept that long)"))
	}
	return errors.Join(errs...)
}

// returnOrigins is where a top-up request's own success_url and cancel_url
// may point: the origins of the configured return pages and of
// PUBLIC_BASE_URL, and CHECKOUT_ALLOWED_ORIGINS.
func (c Config) returnOrigins() ([]string, error) {
	var out []string
	add := func(name, raw string, originOnly bool) error {
		o, err := wallet.Origin(raw)
		if err == nil && originOnly {
			if u, _ := url.Parse(raw); (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
				err = errors.New("not an origin")
			}
		}
		if err != nil {
			if !originOnly {
				return fmt.Errorf("%s must be an absolute http(s) URL without credentials, not %q", name, raw)
			}
			return fmt.Errorf("%s: %q must be an http(s) origin such as https://app.example.com", name, raw)
		}
		if !slices.Contains(out, o) {
			out = append(out, o)
		}
		return nil
	}
	var errs []error
	for _, u := range []struct{ name, v string }{{"CHECKOUT_SUCCESS_URL", c.CheckoutSuccessURL}, {"CHECKOUT_CANCEL_URL", c.CheckoutCancelURL}} {
		errs = append(errs, add(u.name, u.v, false))
	}
	if c.PublicBaseURL != "" {
		errs = append(errs, add("PUBLIC_BASE_URL", c.PublicBaseURL, false))
	}
	for _, o := range c.CheckoutAllowedOrigins {
		errs = append(errs, add("CHECKOUT_ALLOWED_ORIGINS", o, true))
	}
	return out, errors.Join(errs...)
}
