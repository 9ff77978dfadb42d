package app

import (
	"context"
	"log/slog"
	"net"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"

	"github.com/meterflow/meterflow/platform/database"
	"github.com/meterflow/meterflow/platform/safehttp"
	"github.com/meterflow/meterflow/platform/secretbox"
	"github.com/meterflow/meterflow/services/notify/internal/notify"
	"github.com/meterflow/meterflow/services/notify/internal/postgres"
	"github.com/meterflow/meterflow/services/notify/internal/webhookhttp"
	"github.com/meterflow/meterflow/services/notify/internal/webhooks"
)

// newWebhooks builds the outgoing webhooks: the store, the SSRF-safe
// sender, the sealing keys and the service the gRPC API and the queue use.
func newWebhooks(cfg Config, pool *pgxpool.Pool, inserter *river.Client[pgx.Tx], emails *postgres.Store,
	svc *notify.Service, reg prometheus.Registerer, log *slog.Logger,
) (*webhooks.Service, *postgres.WebhookStore, error) {
	keys, err := secretbox.NewKeyring(cfg.Webhooks.SecretsKey, cfg.Webhooks.PreviousSecretsKeys...)
	if err != nil {
		return nil, nil, err
	}
	schedule := cfg.Webhooks.Schedule
	if schedule == nil {
		schedule = webhooks.DefaultSchedule
	}
	store := postgres.NewWebhookStore(pool, inserter, emails, schedule.Attempts())
	addrs := safehttp.AddressPolicy{AllowPrivate: cfg.Webhooks.AllowPrivate}
	// http:// only in local development: production sends over TLS.
	urls := webhooks.URLPolicy{AllowHTTP: !cfg.Production(), Addresses: addrs, Resolver: net.DefaultResolver}
	if cfg.Webhooks.Resolver != nil {
		urls.Resolver = cfg.Webhooks.Resolver
	}
	hooks, err := webhooks.NewService(webhooks.Config{
		Store: store, Sealer: keys, Emails: svc, Log: log, URLs: urls, Schedule: schedule, Now: cfg.Webhooks.Now,
		Sender:  webhookhttp.New(webhookhttp.Options{Addresses: addrs, Resolver: cfg.Webhooks.Resolver}),
		Metrics: newWebhookMetrics(reg, store.OldestDue),
	})
	return hooks, store, err
}

// Reseal seals every webhook endpoint's secrets again under
// WEBHOOK_SECRETS_KEY (`notify reseal`, the last step of the key's
// rotation); WEBHOOK_SECRETS_KEYS_PREVIOUS opens the old ones.
func Reseal(ctx context.Context, cfg Config) (webhooks.ResealResult, error) {
	cfg = cfg.withDefaults()
	keys, err := secretbox.NewKeyring(cfg.Webhooks.SecretsKey, cfg.Webhooks.PreviousSecretsKeys...)
	if err != nil {
		return webhooks.ResealResult{}, err
	}
	pool, err := database.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return webhooks.ResealResult{}, err
	}
	defer pool.Close()
	return webhooks.Reseal(ctx, postgres.NewWebhookStore(pool, nil, nil, 0), keys)
}
