package app

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/meterflow/meterflow/platform/callauth"
	"github.com/meterflow/meterflow/platform/envconfig"
	"github.com/meterflow/meterflow/platform/outbox"
	"github.com/meterflow/meterflow/platform/safehttp"
	"github.com/meterflow/meterflow/platform/secretbox"
	"github.com/meterflow/meterflow/services/workflow/internal/workflow"
)

// Service is this process's name: the audience of its service tokens and
// the issuer of the ones it sends to the wallet.
const Service = "workflow"

// DevSecretsKey is WORKFLOW_SECRETS_KEY (base64) when it is unset outside
// production (a warning is logged). Secrets sealed with it are not secret.
const DevSecretsKey = "bWV0ZXJmbG93LWRldmVsb3BtZW50LWtleS0wMDAwMDA="

// DefaultDatabaseURL is DATABASE_URL when it is unset: the local database.
const DefaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/meterflow_workflow?sslmode=disable"

// DatabaseConfigFromEnv reads the configuration of the database-only
// commands (migrate): APP_ENV and DATABASE_URL, without INTERNAL_AUTH_SECRET
// or WORKFLOW_SECRETS_KEY, so the init container gets neither.
func DatabaseConfigFromEnv() (Config, error) {
	common, url, err := envconfig.ReadDatabaseOnly(DefaultDatabaseURL)
	return Config{Common: common, DatabaseURL: url}, err
}

// Config is everything the workflow process needs; ConfigFromEnv reads it
// from the environment, tests build it directly.
type Config struct {
	// Common holds APP_ENV, INTERNAL_AUTH_SECRET (signs our service tokens
	// and verifies callers'), JWT_ISSUER/JWT_AUDIENCE, SHUTDOWN_GRACE,
	// PPROF_ENABLED.
	envconfig.Common
	GRPCAddr     string
	MetricsAddr  string
	DatabaseURL  string
	IdentityAddr string
	WalletAddr   string
	// NotifyAddr is the notify service, to which the outbox hands the
	// runs' webhook events (NOTIFY_ADDR).
	NotifyAddr string
	// SecretsKey is the 32-byte AES-256-GCM key sealing workflows' auth
	// header values (WORKFLOW_SECRETS_KEY, base64).
	SecretsKey []byte
	// PreviousSecretsKeys are older keys that still open values sealed
	// before a rotation (WORKFLOW_SECRETS_KEYS_PREVIOUS, comma-separated
	// base64, newest first) until `workflow reseal` has sealed them again
	// under SecretsKey.
	PreviousSecretsKeys [][]byte
	// DefaultFeeCents is the fee of a workflow created without one.
	DefaultFeeCents int64
	// AllowedHosts limits the webhook hosts (WORKFLOW_ALLOWED_HOSTS); empty
	// allows any, which only development accepts.
	AllowedHosts []string
	// AllowPrivate lets webhooks reach loopback and private addresses
	// (WORKFLOW_ALLOW_PRIVATE; local development and tests, refused in
	// production). Metadata, unspecified and multicast addresses stay refused.
	AllowPrivate bool
	// AllowedCIDRs are non-public ranges webhooks may reach anyway
	// (WORKFLOW_ALLOWED_CIDRS), e.g. where a deployment's own n8n runs.
	AllowedCIDRs []netip.Prefix
	// SettleGrace is how long after its deadline an unfinished run is settled.
	SettleGrace time.Duration
	// CatalogTTL is how long the run path reuses a workflow it read
	// (WORKFLOW_CATALOG_TTL).
	CatalogTTL time.Duration
	// SettleInterval is the period of the settler's passes.
	SettleInterval time.Duration
	// AsyncStartWindow is how long a queued async run may wait for a worker.
	AsyncStartWindow time.Duration
	// Workers is the number of async runs executed at once by this process.
	Workers int
	// Keys verifies access tokens. Optional: when nil, a callauth.RemoteKeySet
	// against IdentityAddr is used; tests inject authtest.Keys.
	Keys callauth.KeySet
	// WriteBatchMax is the most runs one batched insert, or one batched
	// state change, writes (WORKFLOW_WRITE_BATCH_MAX, ADR 0019); 1 writes
	// one by one, 0 means DefaultWriteBatchMax.
	WriteBatchMax int
	// OutboxBatch is the most webhook events the outbox relay hands to
	// notify in one transaction (WORKFLOW_OUTBOX_BATCH, ADR 0021).
	OutboxBatch int
	// OutboxPoll is how often the relay looks at an idle outbox table for
	// events it was not woken for (WORKFLOW_OUTBOX_POLL): other replicas',
	// a stopped process's.
	OutboxPoll time.Duration
	// PublicBaseURL is the gateway's public URL (PUBLIC_BASE_URL, the same
	// value the gateway has): runs in callback mode tell n8n to post their
	// verdict to it. Required in production.
	PublicBaseURL string
}

// DefaultWriteBatchMax is WORKFLOW_WRITE_BATCH_MAX's default, and
// MaxWriteBatchMax its largest value: one batch is one statement whose
// arrays and row locks grow with it.
const (
	DefaultWriteBatchMax = 64
	MaxWriteBatchMax     = 1000
)

// MaxOutboxBatch is WORKFLOW_OUTBOX_BATCH's largest value: the rows one
// relay transaction locks and deletes (in calls of at most 500 events).
const MaxOutboxBatch = 5000

// DevPublicBaseURL is PUBLIC_BASE_URL outside production when unset: the
// gateway of `make run`.
const DevPublicBaseURL = "http://127.0.0.1:8080"

// callbackBaseURL is the URL callback-mode runs post their verdicts under.
func (c Config) callbackBaseURL() string {
	if c.PublicBaseURL == "" {
		return DevPublicBaseURL
	}
	return c.PublicBaseURL
}

// ConfigFromEnv reads the configuration from environment variables with
// local defaults (see README). In production every secret is required.
func ConfigFromEnv() (Config, error) {
	common, commonErr := envconfig.ReadCommon()
	c := Config{
		Common:        common,
		GRPCAddr:      envconfig.String("GRPC_ADDR", "127.0.0.1:50053"),
		MetricsAddr:   envconfig.StringOrEmpty("METRICS_ADDR", "127.0.0.1:9093"),
		DatabaseURL:   envconfig.String("DATABASE_URL", DefaultDatabaseURL),
		IdentityAddr:  envconfig.String("IDENTITY_ADDR", "127.0.0.1:50051"),
		WalletAddr:    envconfig.String("WALLET_ADDR", "127.0.0.1:50052"),
		NotifyAddr:    envconfig.String("NOTIFY_ADDR", "127.0.0.1:50054"),
		AllowedHosts:  workflow.ParseHostPolicy(os.Getenv("WORKFLOW_ALLOWED_HOSTS")),
		PublicBaseURL: os.Getenv("PUBLIC_BASE_URL"),
	}
	errs := []error{commonErr}
	durations := []struct {
		name string
		def  time.Duration
		dst  *time.Duration
	}{
		{"WORKFLOW_SETTLE_GRACE", 30 * time.Second, &c.SettleGrace},
		{"WORKFLOW_SETTLE_INTERVAL", 15 * time.Second, &c.SettleInterval},
		{"WORKFLOW_ASYNC_START_WINDOW", 10 * time.Minute, &c.AsyncStartWindow},
		{"WORKFLOW_CATALOG_TTL", workflow.DefaultCatalogTTL, &c.CatalogTTL},
		{"WORKFLOW_OUTBOX_POLL", outbox.DefaultRelayPoll, &c.OutboxPoll},
	}
	for _, d := range durations {
		v, err := envconfig.Duration(d.name, d.def)
		errs = append(errs, err)
		*d.dst = v
	}
	fee, err := envconfig.PositiveInt("WORKFLOW_DEFAULT_FEE_CENTS", 10)
	errs = append(errs, err)
	c.DefaultFeeCents = fee
	workers, err := envconfig.PositiveInt("WORKFLOW_WORKERS", 10)
	errs = append(errs, err)
	c.Workers = int(workers)
	batchMax, err := envconfig.PositiveInt("WORKFLOW_WRITE_BATCH_MAX", DefaultWriteBatchMax)
	errs = append(errs, err)
	c.WriteBatchMax = int(min(batchMax, MaxWriteBatchMax+1)) // validate refuses more
	outboxBatch, err := envconfig.PositiveInt("WORKFLOW_OUTBOX_BATCH", outbox.DefaultRelayBatch)
	errs = append(errs, err)
	c.OutboxBatch = int(min(outboxBatch, MaxOutboxBatch+1)) // validate refuses more
	errs = append(errs, c.readAddressPolicy())

	key, err := c.Secret("WORKFLOW_SECRETS_KEY", DevSecretsKey, "base64 of 32 random bytes: head -c 32 /dev/urandom | base64")
	errs = append(errs, err)
	if key != "" {
		if c.SecretsKey, err = secretbox.ParseKey(key); err != nil {
			errs = append(errs, fmt.Errorf("WORKFLOW_SECRETS_KEY: %w", err))
		}
	}
	for i, k := range strings.Split(os.Getenv("WORKFLOW_SECRETS_KEYS_PREVIOUS"), ",") {
		if k = strings.TrimSpace(k); k == "" {
			continue
		}
		prev, err := secretbox.ParseKey(k)
		if err != nil {
			errs = append(errs, fmt.Errorf("WORKFLOW_SECRETS_KEYS_PREVIOUS, key %d: %w", i+1, err))
			continue
		}
		c.PreviousSecretsKeys = append(c.PreviousSecretsKeys, prev)
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, err
	}
	return c, c.validate()
}

// readAddressPolicy reads WORKFLOW_ALLOW_PRIVATE and WORKFLOW_ALLOWED_CIDRS.
func (c *Config) readAddressPolicy() error {
	var errs []error
	var err error
	c.AllowPrivate, err = envconfig.Bool("WORKFLOW_ALLOW_PRIVATE", false)
	errs = append(errs, err)
	cidrs, cerr := safehttp.ParseCIDRs(os.Getenv("WORKFLOW_ALLOWED_CIDRS"))
	if cerr != nil {
		errs = append(errs, fmt.Errorf("WORKFLOW_ALLOWED_CIDRS: %w", cerr))
	}
	c.AllowedCIDRs = cidrs
	return errors.Join(errs...)
}

// validateOutbound checks where webhooks may go: production names its n8n
// hosts and reaches non-public addresses only through listed ranges.
func (c Config) validateOutbound() error {
	var errs []error
	if c.Production() && len(c.AllowedHosts) == 0 {
		errs = append(errs, errors.New("WORKFLOW_ALLOWED_HOSTS is required in production: the comma-separated host names of your n8n instances (e.g. n8n.example.com)"))
	}
	if c.Production() && c.AllowPrivate {
		errs = append(errs, errors.New("WORKFLOW_ALLOW_PRIVATE=true is refused in production; list the private ranges your n8n runs in with WORKFLOW_ALLOWED_CIDRS"))
	}
	for _, p := range c.AllowedCIDRs {
		if !p.IsValid() || p.Bits() == 0 {
			errs = append(errs, fmt.Errorf("WORKFLOW_ALLOWED_CIDRS: %s would allow every address", p))
		}
	}
	return errors.Join(errs...)
}

// validate checks the values New relies on.
func (c Config) validate() error {
	errs := []error{c.Common.Validate()}
	if len(c.SecretsKey) != secretbox.KeySize {
		errs = append(errs, fmt.Errorf("WORKFLOW_SECRETS_KEY must decode to %d bytes", secretbox.KeySize))
	}
	dev, _ := secretbox.ParseKey(DevSecretsKey)
	errs = append(errs, c.RefuseDevValue("WORKFLOW_SECRETS_KEY", string(c.SecretsKey), string(dev)))
	if len(c.SecretsKey) == secretbox.KeySize {
		if _, err := secretbox.NewKeyring(c.SecretsKey, c.PreviousSecretsKeys...); err != nil {
			errs = append(errs, fmt.Errorf("WORKFLOW_SECRETS_KEYS_PREVIOUS: %w", err))
		}
	}
	if c.DefaultFeeCents < workflow.MinFeeCents || c.DefaultFeeCents > workflow.MaxFeeCents {
		errs = append(errs, fmt.Errorf("WORKFLOW_DEFAULT_FEE_CENTS must be between %d and %d", workflow.MinFeeCents, workflow.MaxFeeCents))
	}
	if c.SettleGrace <= 0 || c.SettleInterval <= 0 || c.AsyncStartWindow <= 0 {
		errs = append(errs, errors.New("WORKFLOW_SETTLE_GRACE, WORKFLOW_SETTLE_INTERVAL and WORKFLOW_ASYNC_START_WINDOW must be positive"))
	}
	if c.Workers < 1 || c.Workers > 1000 {
		errs = append(errs, errors.New("WORKFLOW_WORKERS must be between 1 and 1000"))
	}
	if c.WriteBatchMax < 0 || c.WriteBatchMax > MaxWriteBatchMax {
		errs = append(errs, fmt.Errorf("WORKFLOW_WRITE_BATCH_MAX must be at most %d (1 writes runs one by one)", MaxWriteBatchMax))
	}
	if c.OutboxBatch < 0 || c.OutboxBatch > MaxOutboxBatch {
		errs = append(errs, fmt.Errorf("WORKFLOW_OUTBOX_BATCH must be between 1 and %d", MaxOutboxBatch))
	}
	if c.OutboxPoll < 0 {
		errs = append(errs, errors.New("WORKFLOW_OUTBOX_POLL must be positive"))
	}
	if c.DatabaseURL == "" || c.WalletAddr == "" {
		errs = append(errs, errors.New("DATABASE_URL and WALLET_ADDR must not be empty"))
	}
	if c.NotifyAddr == "" {
		errs = append(errs, errors.New("NOTIFY_ADDR must be set (the outbox hands the runs' webhook events to the notify service)"))
	}
	if c.Keys == nil && c.IdentityAddr == "" {
		errs = append(errs, errors.New("IDENTITY_ADDR must not be empty"))
	}
	errs = append(errs, c.validateOutbound(), checkPublicBaseURL(c.PublicBaseURL, c.Production()))
	return errors.Join(errs...)
}

// checkPublicBaseURL requires an absolute http(s) URL without credentials,
// query or fragment: the callback URLs are made by appending a path to it.
// Empty is DevPublicBaseURL outside production (see callbackBaseURL).
func checkPublicBaseURL(raw string, production bool) error {
	if raw == "" && !production {
		return nil
	}
	if raw == "" {
		return errors.New("PUBLIC_BASE_URL is required in production: the gateway's public URL (e.g. https://api.example.com), where workflows in callback mode post their verdicts")
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("PUBLIC_BASE_URL %q must be an absolute http(s) URL without credentials, query or fragment", raw)
	}
	return nil
}
