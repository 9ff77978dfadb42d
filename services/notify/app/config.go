package app

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"time"

	"github.com/riverqueue/river"

	"github.com/meterflow/meterflow/platform/callauth"
	"github.com/meterflow/meterflow/platform/envconfig"
	"github.com/meterflow/meterflow/platform/secretbox"
	"github.com/meterflow/meterflow/services/notify/internal/mailer"
	"github.com/meterflow/meterflow/services/notify/internal/webhooks"
)

// Service is this process's name: the audience of its service tokens and
// the issuer of the ones it sends to identity.
const Service = "notify"

// DefaultDatabaseURL is DATABASE_URL when it is unset: the local database.
const DefaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/meterflow_notify?sslmode=disable"

// Development defaults of SMTP_URL and MAIL_FROM: Mailpit, which `make
// run` starts, and an address no real server accepts mail for.
const (
	DevSMTPURL  = "smtp://127.0.0.1:1025"
	DevMailFrom = "Meterflow <no-reply@meterflow.local>"
)

// DatabaseConfigFromEnv reads the configuration of the database-only
// commands (migrate): APP_ENV and DATABASE_URL, without
// INTERNAL_AUTH_SECRET or SMTP_URL, so the init container gets neither.
func DatabaseConfigFromEnv() (Config, error) {
	common, url, err := envconfig.ReadDatabaseOnly(DefaultDatabaseURL)
	return Config{Common: common, DatabaseURL: url}, err
}

// Config is everything the notify process needs; ConfigFromEnv reads it
// from the environment, tests build it directly.
type Config struct {
	// Common holds APP_ENV, INTERNAL_AUTH_SECRET (signs our service tokens
	// and verifies callers'), SHUTDOWN_GRACE, PPROF_ENABLED.
	envconfig.Common
	GRPCAddr     string
	MetricsAddr  string
	DatabaseURL  string
	IdentityAddr string
	// SMTP is SMTP_URL, parsed; it may hold a password.
	SMTP mailer.Server
	// MailFrom is MAIL_FROM, the sender of every email.
	MailFrom *mail.Address
	// SendTimeout bounds one attempt at an email: the identity lookup and
	// the whole SMTP conversation (NOTIFY_SEND_TIMEOUT).
	SendTimeout time.Duration
	// RescueAfter is when River takes back the send of a process that
	// died mid-attempt (NOTIFY_RESCUE_AFTER); above SendTimeout.
	RescueAfter time.Duration
	// Retention is how long final emails are kept (NOTIFY_RETENTION);
	// a producer's key is remembered that long.
	Retention time.Duration
	// Workers is how many emails this process sends at once (NOTIFY_WORKERS).
	Workers int
	// RetryPolicy replaces River's backoff between attempts, and
	// FetchPollInterval River's polling for due retries; tests only.
	RetryPolicy       river.ClientRetryPolicy
	FetchPollInterval time.Duration
	// SMTPRootCAs replaces the system's roots for the SMTP server's
	// certificate; tests only.
	SMTPRootCAs *x509.CertPool

	// Webhooks configures outgoing webhooks (docs/webhooks.md).
	Webhooks WebhookConfig
	// Keys verifies users' access tokens (the WebhookService's user and
	// admin calls). Optional: when nil, identity's keys (IdentityAddr);
	// tests inject authtest.Keys.
	Keys callauth.KeySet
}

// WebhookConfig is the outgoing webhooks' part of Config.
type WebhookConfig struct {
	// AllowPrivate lets attempts reach loopback and private addresses and
	// accepts http:// URLs (WEBHOOK_ALLOW_PRIVATE; local development and
	// tests, refused in production).
	AllowPrivate bool
	// SecretsKey seals endpoints' signing secrets at rest
	// (WEBHOOK_SECRETS_KEY, base64 of 32 bytes); PreviousSecretsKeys
	// still open what older keys sealed (WEBHOOK_SECRETS_KEYS_PREVIOUS).
	SecretsKey          []byte
	PreviousSecretsKeys [][]byte
	// Workers is how many attempts this process makes at once (WEBHOOK_WORKERS).
	Workers int
	// Schedule replaces the retry schedule (webhooks.DefaultSchedule):
	// tests only, never read from the environment.
	Schedule webhooks.Schedule
	// Resolver replaces the system's DNS resolver (tests only).
	Resolver *net.Resolver
	// Now replaces the clock of the rotation overlap and the disabling
	// rule (tests only).
	Now func() time.Time
}

// DefaultWebhookWorkers is WEBHOOK_WORKERS when unset. Attempts wait on
// receivers (up to 15 s each) and hold a database connection only to load
// and record, so many run at once; River hands each worker slot about ten
// jobs a second, so ten slots would cap a process near 100 deliveries/s
// (BenchmarkWebhookFanOut).
const DefaultWebhookWorkers = 50

// DevWebhookSecretsKey is WEBHOOK_SECRETS_KEY (base64) when it is unset
// outside production (a warning is logged). Secrets sealed with it are not
// secret.
const DevWebhookSecretsKey = "bWV0ZXJmbG93LWRldi13ZWJob29rLXNlY3JldHMtMDA="

// ConfigFromEnv reads the configuration from environment variables with
// local defaults (see README). Production requires SMTP_URL and MAIL_FROM.
func ConfigFromEnv() (Config, error) {
	common, commonErr := envconfig.ReadCommon()
	c := Config{
		Common:       common,
		GRPCAddr:     envconfig.String("GRPC_ADDR", "127.0.0.1:50054"),
		MetricsAddr:  envconfig.StringOrEmpty("METRICS_ADDR", "127.0.0.1:9094"),
		DatabaseURL:  envconfig.String("DATABASE_URL", DefaultDatabaseURL),
		IdentityAddr: envconfig.String("IDENTITY_ADDR", "127.0.0.1:50051"),
	}
	errs := []error{commonErr}
	rawURL, err := c.Secret("SMTP_URL", DevSMTPURL, "where to send email, e.g. smtps://user:password@smtp.example.com:465")
	errs = append(errs, err)
	if rawURL != "" {
		errs = append(errs, c.SetSMTPURL(rawURL))
	}
	from, err := c.Secret("MAIL_FROM", DevMailFrom, `the sender of every email, e.g. "Meterflow <no-reply@example.com>"`)
	errs = append(errs, err)
	if from != "" {
		if c.MailFrom, err = mail.ParseAddress(from); err != nil {
			errs = append(errs, fmt.Errorf("MAIL_FROM must be an address such as \"Meterflow <no-reply@example.com>\", not %q", from))
		}
	}
	durations := []struct {
		name string
		def  time.Duration
		dst  *time.Duration
	}{
		{"NOTIFY_SEND_TIMEOUT", time.Minute, &c.SendTimeout},
		{"NOTIFY_RESCUE_AFTER", 3 * time.Minute, &c.RescueAfter},
		{"NOTIFY_RETENTION", 30 * 24 * time.Hour, &c.Retention},
	}
	for _, d := range durations {
		v, err := envconfig.Duration(d.name, d.def)
		errs = append(errs, err)
		*d.dst = v
	}
	workers, err := envconfig.PositiveInt("NOTIFY_WORKERS", 10)
	errs = append(errs, err)
	c.Workers = int(workers)
	hookWorkers, err := envconfig.PositiveInt("WEBHOOK_WORKERS", DefaultWebhookWorkers)
	errs = append(errs, err)
	c.Webhooks.Workers = int(hookWorkers)
	c.Webhooks.AllowPrivate, err = envconfig.Bool("WEBHOOK_ALLOW_PRIVATE", false)
	errs = append(errs, err)
	c.Webhooks.SecretsKey, c.Webhooks.PreviousSecretsKeys, err = c.SealingKeys("WEBHOOK_SECRETS_KEY", "WEBHOOK_SECRETS_KEYS_PREVIOUS", DevWebhookSecretsKey)
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return Config{}, err
	}
	return c, c.validate()
}

// SetSMTPURL sets SMTP from an SMTP_URL, as ConfigFromEnv does: an
// smtp:// URL without a starttls parameter requires STARTTLS in
// production and takes it when offered in development. Errors never
// repeat the URL (it may hold a password).
func (c *Config) SetSMTPURL(raw string) error {
	starttls := mailer.StartTLSRequired
	if !c.Production() {
		starttls = mailer.StartTLSOpportunistic
	}
	s, err := mailer.ParseURL(raw, starttls)
	if err != nil {
		return err
	}
	c.SMTP = s
	return nil
}

// MinRetention is the least NOTIFY_RETENTION: longer than the producers'
// outbox retries (about three days), so a late retry still finds its key.
const MinRetention = 7 * 24 * time.Hour

// withDefaults fills in what tests that build a Config directly may leave
// out: the webhook workers, and outside production the development key.
func (c Config) withDefaults() Config {
	if c.Webhooks.Workers == 0 {
		c.Webhooks.Workers = DefaultWebhookWorkers
	}
	if len(c.Webhooks.SecretsKey) == 0 && !c.Production() {
		c.Webhooks.SecretsKey, _ = secretbox.ParseKey(DevWebhookSecretsKey)
	}
	return c
}

// validate checks the values New relies on.
func (c Config) validate() error {
	errs := []error{c.Common.Validate()}
	if c.SMTP.Host == "" || c.SMTP.Port == 0 {
		errs = append(errs, errors.New("SMTP_URL must name a server, e.g. smtps://user:password@smtp.example.com:465"))
	}
	if c.MailFrom == nil {
		errs = append(errs, errors.New("MAIL_FROM must be set"))
	} else {
		dev, _ := mail.ParseAddress(DevMailFrom)
		errs = append(errs, c.RefuseDevValue("MAIL_FROM", c.MailFrom.Address, dev.Address))
	}
	if c.SendTimeout < time.Second || c.SendTimeout > 10*time.Minute {
		errs = append(errs, errors.New("NOTIFY_SEND_TIMEOUT must be between 1s and 10m"))
	}
	if c.RescueAfter < c.SendTimeout+10*time.Second {
		errs = append(errs, fmt.Errorf("NOTIFY_RESCUE_AFTER must be at least NOTIFY_SEND_TIMEOUT + 10s (%s), or a slow send could be taken back and sent twice", c.SendTimeout+10*time.Second))
	}
	if c.Retention < MinRetention {
		errs = append(errs, fmt.Errorf("NOTIFY_RETENTION must be at least %s, longer than the producers' retries", MinRetention))
	}
	if c.Workers < 1 || c.Workers > 1000 {
		errs = append(errs, errors.New("NOTIFY_WORKERS must be between 1 and 1000"))
	}
	if c.Production() && c.Webhooks.AllowPrivate {
		errs = append(errs, errors.New("WEBHOOK_ALLOW_PRIVATE=true is refused in production: users' endpoints must not reach private or loopback addresses"))
	}
	if _, err := secretbox.NewKeyring(c.Webhooks.SecretsKey, c.Webhooks.PreviousSecretsKeys...); err != nil {
		errs = append(errs, fmt.Errorf("WEBHOOK_SECRETS_KEY / WEBHOOK_SECRETS_KEYS_PREVIOUS: %w", err))
	}
	if c.Webhooks.Workers < 1 || c.Webhooks.Workers > 1000 {
		errs = append(errs, errors.New("WEBHOOK_WORKERS must be between 1 and 1000"))
	}
	if c.DatabaseURL == "" || c.IdentityAddr == "" {
		errs = append(errs, errors.New("DATABASE_URL and IDENTITY_ADDR must not be empty"))
	}
	return errors.Join(errs...)
}
