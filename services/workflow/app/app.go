// Package app wires the workflow service: used by cmd/workflow and, in
// process, by the gateway's end-to-end tests, exactly as in production.
package app

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"

	"github.com/meterflow/meterflow/platform/callauth"
	"github.com/meterflow/meterflow/platform/database"
	"github.com/meterflow/meterflow/platform/grpcservice"
	"github.com/meterflow/meterflow/platform/jobs"
	"github.com/meterflow/meterflow/platform/outbox"
	"github.com/meterflow/meterflow/platform/process"
	"github.com/meterflow/meterflow/platform/safehttp"
	"github.com/meterflow/meterflow/platform/secretbox"
	"github.com/meterflow/meterflow/platform/telemetry"
	identityv1 "github.com/meterflow/meterflow/proto/gen/meterflow/identity/v1"
	notifyv1 "github.com/meterflow/meterflow/proto/gen/meterflow/notify/v1"
	walletv1 "github.com/meterflow/meterflow/proto/gen/meterflow/wallet/v1"
	workflowv1 "github.com/meterflow/meterflow/proto/gen/meterflow/workflow/v1"
	"github.com/meterflow/meterflow/services/workflow/internal/grpcapi"
	"github.com/meterflow/meterflow/services/workflow/internal/n8n"
	"github.com/meterflow/meterflow/services/workflow/internal/postgres"
	"github.com/meterflow/meterflow/services/workflow/internal/queue"
	"github.com/meterflow/meterflow/services/workflow/internal/walletclient"
	"github.com/meterflow/meterflow/services/workflow/internal/workflow"
	"github.com/meterflow/meterflow/services/workflow/migrations"
)

// App is a configured workflow service, ready to serve.
type App struct {
	// Registry holds the process's Prometheus metrics, served on MetricsAddr.
	Registry *prometheus.Registry

	cfg     Config
	log     *slog.Logger
	closers process.Closers
	svc     *workflow.Service
	workers *river.Client[pgx.Tx]
	// relay hands the runs' webhook events to notify (ADR 0021).
	relay *outbox.Relay
	// pool is the database, for the outbox's rescuer (Serve).
	pool   *pgxpool.Pool
	grpc   *grpc.Server
	health *health.Server
}

// New opens the database, dials the wallet and notify (and identity for
// signing keys unless cfg.Keys is set) and builds the gRPC server, the job workers and
// the settler. It does not listen and does not migrate, but fails when
// the migrations (River's included) have not run.
func New(ctx context.Context, cfg Config, log *slog.Logger) (_ *App, err error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	a := &App{cfg: cfg, log: log}
	defer a.closers.CloseOnError(&err)
	keys, err := secretbox.NewKeyring(cfg.SecretsKey, cfg.PreviousSecretsKeys...)
	if err != nil {
		return nil, err
	}
	minter, err := callauth.NewMinter(Service, cfg.InternalAuthSecret)
	if err != nil {
		return nil, err
	}
	pool, err := database.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	a.closers.Add(pool.Close)
	a.pool = pool
	if err := jobs.Ready(ctx, pool, Service+" migrate"); err != nil {
		return nil, err
	}
	a.Registry = telemetry.NewRegistry()
	if err := database.RegisterPoolMetrics(a.Registry, pool); err != nil {
		return nil, err
	}
	walletConn, err := grpcservice.Dial(cfg.WalletAddr, minter.Credentials("wallet"))
	if err != nil {
		return nil, err
	}
	a.closers.AddCloser(walletConn)
	userKeys := cfg.Keys
	if userKeys == nil {
		idConn, err := grpcservice.Dial(cfg.IdentityAddr, minter.Credentials("identity"))
		if err != nil {
			return nil, err
		}
		a.closers.AddCloser(idConn)
		userKeys = callauth.NewRemoteKeySet(identityv1.NewIdentityServiceClient(idConn))
	}
	inserter, err := queue.NewInsertOnly(pool, log)
	if err != nil {
		return nil, err
	}
	addrs := safehttp.AddressPolicy{AllowPrivate: cfg.AllowPrivate, AllowedCIDRs: cfg.AllowedCIDRs}
	store := postgres.NewStore(pool, inserter)
	metrics := newRunMetrics(a.Registry, func(ctx context.Context) (int64, error) {
		return store.CountUnsettled(ctx, time.Now().Add(-cfg.SettleGrace))
	})
	batchMax := cfg.WriteBatchMax
	if batchMax == 0 {
		batchMax = DefaultWriteBatchMax
	}
	store.BatchWrites(postgres.WriteBatches{Max: batchMax, Log: log, Observe: metrics.WriteBatch})
	a.svc = workflow.NewService(workflow.Config{
		Store:            store,
		Wallet:           walletclient.Client{API: walletv1.NewWalletServiceClient(walletConn)},
		Caller:           n8n.New(n8n.Options{Hosts: cfg.AllowedHosts, Addresses: addrs}),
		Secrets:          keys,
		Metrics:          metrics,
		Log:              log,
		DefaultFeeCents:  cfg.DefaultFeeCents,
		AllowedHosts:     cfg.AllowedHosts,
		CheckAddress:     addrs.Check,
		SettleGrace:      cfg.SettleGrace,
		AsyncStartWindow: cfg.AsyncStartWindow,
		CatalogTTL:       cfg.CatalogTTL,
		CallbackBaseURL:  cfg.callbackBaseURL(),
	})
	// The outbox relay hands the runs' webhook events to notify in batches
	// (dialled lazily: notify down delays events, the relay retries them,
	// no run waits). The River event worker stays registered for the
	// event jobs queued before the outbox table existed (ADR 0021).
	notifyConn, err := grpcservice.Dial(cfg.NotifyAddr, minter.Credentials("notify"))
	if err != nil {
		return nil, err
	}
	a.closers.AddCloser(notifyConn)
	notify := notifyv1.NewNotifyServiceClient(notifyConn)
	if a.relay, err = outbox.NewRelay(&outbox.Relay{Pool: pool, Notify: notify, Service: Service, Batch: cfg.OutboxBatch,
		Poll: cfg.OutboxPoll, Metrics: newOutboxMetrics(a.Registry, pool), Log: log}); err != nil {
		return nil, err
	}
	store.OnEvents(a.relay.Wake)
	events := &outbox.EventWorker{Notify: notify, Service: Service}
	if a.workers, err = queue.NewWorkerClient(pool, a.svc, events, cfg.Workers, a.Registry, log); err != nil {
		return nil, err
	}
	a.grpc, a.health = grpcservice.NewServer(grpcservice.Options{
		Logger:  log,
		Metrics: telemetry.NewGRPCServerMetrics(a.Registry),
		Auth: callauth.NewServer(Service, cfg.InternalAuthSecret, callauth.AccessVerifier{Keys: userKeys, Issuer: cfg.JWTIssuer, Audience: cfg.JWTAudience}, grpcapi.Policy(),
			callauth.AcceptPrevious(cfg.InternalAuthSecretPrevious)),
	})
	workflowv1.RegisterWorkflowServiceServer(a.grpc, &grpcapi.Server{Service: a.svc})
	return a, nil
}

// workerCancelTimeout bounds the last shutdown step: canceling the jobs
// still running after SHUTDOWN_GRACE. It fits in the few seconds the pod's
// terminationGracePeriodSeconds keeps beyond preStop and the grace.
const workerCancelTimeout = 2 * time.Second

// Serve serves gRPC on lis (and metrics on cfg.MetricsAddr when set), works
// off queued async runs, relays the runs' webhook events to notify and
// settles overdue runs until ctx ends. Then two
// drains run side by side, each for up to cfg.Grace(): gRPC finishes the
// calls in flight (sync runs) while the queue stops taking jobs at once
// and lets the running ones (async runs) finish. So a pod needs one grace
// to stop, not two (deploy/budget_test.go), and no job is taken by a
// process that is going away. The settler stops last.
func (a *App) Serve(ctx context.Context, lis net.Listener) error {
	// The queue gets its own context: canceling Start's context would cut
	// jobs short; stopWorkers stops it.
	if err := a.workers.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("start job workers: %w", err)
	}
	stopSettler := process.Go(context.WithoutCancel(ctx), func(ctx context.Context) { a.svc.RunSettler(ctx, a.cfg.SettleInterval) })
	// River would take back the event jobs of a killed process only after
	// the longest run's horizon (RescueStuckJobsAfter, 35 min); the outbox
	// takes its own back after two (platform/outbox.Rescue).
	stopRescuer := process.Go(ctx, func(ctx context.Context) { outbox.RunRescuer(ctx, a.pool, a.log, 30*time.Second) })
	// The relay runs until the job workers have stopped: the async runs
	// that finish during the drain publish their events too.
	stopRelay := process.Go(context.WithoutCancel(ctx), a.relay.Run)

	served, doneServing := context.WithCancel(ctx)
	workersStopped := make(chan struct{})
	go func() {
		defer close(workersStopped)
		<-served.Done() // SIGTERM, or the server failed
		a.stopWorkers()
	}()
	err := grpcservice.Serve(ctx, a.log, lis, a.grpc, a.health, a.cfg.MetricsAddr, telemetry.AdminHandler(a.Registry, a.cfg.Pprof), a.cfg.Grace())
	doneServing()
	<-workersStopped
	stopRelay()
	a.drainRelay()
	stopRescuer()
	stopSettler()
	return err
}

// stopWorkers stops the queue from fetching jobs and waits up to the grace
// for the running ones; those still running then are canceled (River
// rescues their jobs later, and the settler settles their runs).
func (a *App) stopWorkers() {
	stopCtx, cancel := context.WithTimeout(context.Background(), a.cfg.Grace())
	defer cancel()
	if err := a.workers.Stop(stopCtx); err != nil {
		a.log.Warn("job workers did not finish within SHUTDOWN_GRACE; canceling them", "err", err)
		hardCtx, hardCancel := context.WithTimeout(context.Background(), workerCancelTimeout)
		_ = a.workers.StopAndCancel(hardCtx)
		hardCancel()
	}
}

// drainRelay hands what the outbox still holds to notify, for up to
// relayDrainTimeout (the relay finished its batch in flight already).
func (a *App) drainRelay() {
	ctx, cancel := context.WithTimeout(context.Background(), relayDrainTimeout)
	defer cancel()
	if _, err := a.relay.Flush(ctx); err != nil {
		a.log.Warn("outbox relay: events left for the next start or another replica", "err", err)
	}
}

// WorkersStopped is closed once the job workers have stopped: at shutdown,
// while gRPC may still be draining.
func (a *App) WorkersStopped() <-chan struct{} { return a.workers.Stopped() }

// SettleOverdue runs one settler pass now (the same as the periodic one)
// and returns how many runs it settled.
func (a *App) SettleOverdue(ctx context.Context) (int, error) {
	return a.svc.SettleOverdue(ctx)
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

// Reseal seals every workflow's auth header value again under the current
// WORKFLOW_SECRETS_KEY (`workflow reseal`, the last step of a key
// rotation); the keys in WORKFLOW_SECRETS_KEYS_PREVIOUS open the old ones.
func Reseal(ctx context.Context, cfg Config) (workflow.ResealResult, error) {
	keys, err := secretbox.NewKeyring(cfg.SecretsKey, cfg.PreviousSecretsKeys...)
	if err != nil {
		return workflow.ResealResult{}, err
	}
	pool, err := database.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return workflow.ResealResult{}, err
	}
	defer pool.Close()
	svc := workflow.NewService(workflow.Config{Store: postgres.NewStore(pool, nil), Secrets: keys})
	return svc.Reseal(ctx)
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
