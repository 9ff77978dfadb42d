// Package app wires the notify service: used by cmd/notify and, in
// process, by the whole-stack tests, exactly as in production.
package app

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"

	"github.com/meterflow/meterflow/platform/callauth"
	"github.com/meterflow/meterflow/platform/database"
	"github.com/meterflow/meterflow/platform/grpcservice"
	"github.com/meterflow/meterflow/platform/jobs"
	"github.com/meterflow/meterflow/platform/process"
	"github.com/meterflow/meterflow/platform/telemetry"
	identityv1 "github.com/meterflow/meterflow/proto/gen/meterflow/identity/v1"
	notifyv1 "github.com/meterflow/meterflow/proto/gen/meterflow/notify/v1"
	"github.com/meterflow/meterflow/services/notify/internal/grpcapi"
	"github.com/meterflow/meterflow/services/notify/internal/identityclient"
	"github.com/meterflow/meterflow/services/notify/internal/mailer"
	"github.com/meterflow/meterflow/services/notify/internal/notify"
	"github.com/meterflow/meterflow/services/notify/internal/postgres"
	"github.com/meterflow/meterflow/services/notify/internal/queue"
	"github.com/meterflow/meterflow/services/notify/migrations"
)

// App is a configured notify service, ready to serve.
type App struct {
	// Registry holds the process's Prometheus metrics, served on MetricsAddr.
	Registry *prometheus.Registry

	cfg     Config
	log     *slog.Logger
	closers process.Closers
	workers *river.Client[pgx.Tx]
	grpc    *grpc.Server
	health  *health.Server
}

// New opens the database, dials identity and builds the gRPC server and
// the send workers. It does not listen and does not migrate, but fails
// when the migrations (River's included) have not run.
func New(ctx context.Context, cfg Config, log *slog.Logger) (_ *App, err error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	a := &App{cfg: cfg, log: log}
	defer a.closers.CloseOnError(&err)
	minter, err := callauth.NewMinter(Service, cfg.InternalAuthSecret)
	if err != nil {
		return nil, err
	}
	pool, err := database.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	a.closers.Add(pool.Close)
	if err := jobs.Ready(ctx, pool, Service+" migrate"); err != nil {
		return nil, err
	}
	a.Registry = telemetry.NewRegistry()
	if err := database.RegisterPoolMetrics(a.Registry, pool); err != nil {
		return nil, err
	}
	idConn, err := grpcservice.Dial(cfg.IdentityAddr, minter.Credentials("identity"))
	if err != nil {
		return nil, err
	}
	a.closers.AddCloser(idConn)
	smtp, err := mailer.New(mailer.Options{Server: cfg.SMTP, From: cfg.MailFrom, Timeout: cfg.SendTimeout, RootCAs: cfg.SMTPRootCAs})
	if err != nil {
		return nil, err
	}
	inserter, err := queue.NewInsertOnly(pool, log)
	if err != nil {
		return nil, err
	}
	store := postgres.NewStore(pool, inserter)
	svc, err := notify.NewService(notify.Config{
		Store:    store,
		Contacts: identityclient.Client{API: identityv1.NewIdentityServiceClient(idConn)},
		Mailer:   smtp,
		Metrics:  newEmailMetrics(a.Registry, store),
		Log:      log,
	})
	if err != nil {
		return nil, err
	}
	hooks, hookStore, err := newWebhooks(cfg, pool, inserter, store, svc, a.Registry, log)
	if err != nil {
		return nil, err
	}
	a.workers, err = queue.NewWorkerClient(pool, svc, queue.Options{
		Workers: cfg.Workers, JobTimeout: cfg.SendTimeout, RescueAfter: cfg.RescueAfter,
		Retention: cfg.Retention, RetryPolicy: cfg.RetryPolicy, FetchPollInterval: cfg.FetchPollInterval, Metrics: a.Registry, Log: log,
		Webhooks: hooks, WebhookWorkers: cfg.Webhooks.Workers, Events: hookStore, Deliveries: hookStore,
	})
	if err != nil {
		return nil, err
	}
	keys := cfg.Keys
	if keys == nil {
		keys = callauth.NewRemoteKeySet(identityv1.NewIdentityServiceClient(idConn))
	}
	a.grpc, a.health = grpcservice.NewServer(grpcservice.Options{
		Logger:  log,
		Metrics: telemetry.NewGRPCServerMetrics(a.Registry),
		// The services' methods take a service token only; the gateway's
		// webhook methods also the user's (or admin's) own access token.
		Auth: callauth.NewServer(Service, cfg.InternalAuthSecret, callauth.AccessVerifier{Keys: keys, Issuer: cfg.JWTIssuer, Audience: cfg.JWTAudience},
			grpcapi.Policy(), callauth.AcceptPrevious(cfg.InternalAuthSecretPrevious)),
	})
	notifyv1.RegisterNotifyServiceServer(a.grpc, &grpcapi.Server{Service: svc, Webhooks: hooks})
	notifyv1.RegisterWebhookServiceServer(a.grpc, &grpcapi.WebhookServer{Webhooks: hooks})
	log.InfoContext(ctx, "sending email", "smtp", cfg.SMTP.Redacted(), "from", cfg.MailFrom.Address)
	return a, nil
}

// workerCancelTimeout bounds the last shutdown step: canceling the sends
// still running after SHUTDOWN_GRACE.
const workerCancelTimeout = 2 * time.Second

// Serve serves gRPC on lis (and metrics on cfg.MetricsAddr when set) and
// sends queued emails until ctx ends. Then gRPC drains while the queue
// stops taking jobs at once and lets the sends under way finish, each for
// up to cfg.Grace(); a send still running then is canceled and retried
// later (River), so SIGTERM loses no email.
func (a *App) Serve(ctx context.Context, lis net.Listener) error {
	if err := a.workers.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("start send workers: %w", err)
	}
	served, doneServing := context.WithCancel(ctx)
	workersStopped := make(chan struct{})
	go func() {
		defer close(workersStopped)
		<-served.Done()
		a.stopWorkers()
	}()
	err := grpcservice.Serve(ctx, a.log, lis, a.grpc, a.health, a.cfg.MetricsAddr, telemetry.AdminHandler(a.Registry, a.cfg.Pprof), a.cfg.Grace())
	doneServing()
	<-workersStopped
	return err
}

// stopWorkers stops fetching jobs and waits up to the grace for the sends
// under way; those still running then are canceled.
func (a *App) stopWorkers() {
	stopCtx, cancel := context.WithTimeout(context.Background(), a.cfg.Grace())
	defer cancel()
	if err := a.workers.Stop(stopCtx); err != nil {
		a.log.Warn("sends did not finish within SHUTDOWN_GRACE; canceling them (they are retried)", "err", err)
		hardCtx, hardCancel := context.WithTimeout(context.Background(), workerCancelTimeout)
		_ = a.workers.StopAndCancel(hardCtx)
		hardCancel()
	}
}

// Close releases the database pool and client connections; it may be
// called more than once.
func (a *App) Close() { a.closers.Close() }

// SchemaCheck tells serve whether the database's schema is what this build
// needs (platform/process, Process.Schema): the service's migrations and
// River's (jobs.SchemaCheck).
func SchemaCheck(ctx context.Context, cfg Config) (string, error) {
	return jobs.SchemaCheck(ctx, cfg.DatabaseURL, migrations.FS, Service+" migrate")
}

// Migrate creates the database if it is missing and applies the service's
// migrations and River's.
func Migrate(ctx context.Context, databaseURL string, log *slog.Logger) error {
	return jobs.Setup(ctx, databaseURL, migrations.FS, log)
}

// MigrateQueue applies River's migrations (the job queue's tables). Tests
// that make the database with dbtest.New(t, migrations.FS) call it next.
func MigrateQueue(ctx context.Context, databaseURL string, log *slog.Logger) error {
	return jobs.MigrateDatabase(ctx, databaseURL, log)
}
