// Package app wires the wallet service: used by cmd/wallet and, in process,
// by the gateway's end-to-end tests, exactly as in production.
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
	"github.com/meterflow/meterflow/platform/telemetry"
	identityv1 "github.com/meterflow/meterflow/proto/gen/meterflow/identity/v1"
	notifyv1 "github.com/meterflow/meterflow/proto/gen/meterflow/notify/v1"
	walletv1 "github.com/meterflow/meterflow/proto/gen/meterflow/wallet/v1"
	"github.com/meterflow/meterflow/services/wallet/internal/grpcapi"
	"github.com/meterflow/meterflow/services/wallet/internal/postgres"
	"github.com/meterflow/meterflow/services/wallet/internal/queue"
	"github.com/meterflow/meterflow/services/wallet/internal/stripeclient"
	"github.com/meterflow/meterflow/services/wallet/internal/wallet"
	"github.com/meterflow/meterflow/services/wallet/migrations"
)

// WebhookTolerance is the oldest Stripe signature timestamp accepted.
const WebhookTolerance = 300 * time.Second

// App is a configured wallet service, ready to serve.
type App struct {
	// Registry holds the process's Prometheus metrics, served on MetricsAddr.
	Registry *prometheus.Registry
	// Wallet is the business service; tests and the CLI commands (verify,
	// sweeps) call it directly.
	Wallet *wallet.Service

	cfg     Config
	log     *slog.Logger
	closers process.Closers
	grpc    *grpc.Server
	health  *health.Server
	// jobs is the River client: it queues automatic charges inside capture
	// transactions and, with JobWorkers > 0, works them.
	jobs *river.Client[pgx.Tx]
	// pool is the database, for the outbox's rescuer (Serve).
	pool *pgxpool.Pool
}

// New opens the database pool and builds the gRPC server. It does not
// listen and does not migrate.
func New(ctx context.Context, cfg Config, log *slog.Logger) (_ *App, err error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	a := &App{cfg: cfg, log: log, Registry: telemetry.NewRegistry()}
	defer a.closers.CloseOnError(&err)
	pool, err := database.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	a.closers.Add(pool.Close)
	a.pool = pool
	if err := database.RegisterPoolMetrics(a.Registry, pool); err != nil {
		return nil, err
	}
	minter, err := callauth.NewMinter(Service, cfg.InternalAuthSecret)
	if err != nil {
		return nil, err
	}
	keys := cfg.Keys
	if keys == nil {
		conn, err := grpcservice.Dial(cfg.IdentityAddr, minter.Credentials("identity"))
		if err != nil {
			return nil, err
		}
		a.closers.AddCloser(conn)
		keys = callauth.NewRemoteKeySet(identityv1.NewIdentityServiceClient(conn))
	}
	if err := jobs.Ready(ctx, pool, Service+" migrate"); err != nil {
		return nil, err
	}
	worker := &queue.AutoTopUpWorker{}
	opts := queue.Options{Workers: cfg.JobWorkers, RescueAfter: cfg.JobRescueAfter, Metrics: a.Registry, Log: log}
	if cfg.JobWorkers > 0 {
		// The outbox hands emails and webhook events to notify (dialled
		// lazily: notify down delays them, River retries them, nothing else
		// waits).
		conn, err := grpcservice.Dial(cfg.NotifyAddr, minter.Credentials("notify"))
		if err != nil {
			return nil, err
		}
		a.closers.AddCloser(conn)
		notify := notifyv1.NewNotifyServiceClient(conn)
		opts.Emails = &outbox.EmailWorker{Notify: notify, Service: Service}
		opts.Events = &outbox.EventWorker{Notify: notify, Service: Service}
	}
	if a.jobs, err = queue.NewClient(pool, worker, opts); err != nil {
		return nil, err
	}
	store := postgres.New(pool, a.jobs)
	metrics := newWalletMetrics(a.Registry, store)
	batchMax := cfg.ReserveBatchMax
	if batchMax == 0 {
		batchMax = DefaultReserveBatchMax
	}
	store.BatchReserves(postgres.Batches{Max: batchMax, Log: log, Observe: metrics.ReserveBatch})
	settleMax := cfg.SettleBatchMax
	if settleMax == 0 {
		settleMax = DefaultReserveBatchMax
	}
	store.BatchSettlements(postgres.Batches{Max: settleMax, Log: log, Observe: metrics.SettleBatch})
	origins, _ := cfg.returnOrigins() // checked by validate
	a.Wallet = wallet.NewService(wallet.Config{
		Store: store, Payments: stripeclient.New(cfg.StripeSecretKey, cfg.StripeAPIBase), Log: log, Metrics: metrics,
		Currency: cfg.Currency, TopUpMinCents: cfg.TopUpMinCents, TopUpMaxCents: cfg.TopUpMaxCents,
		SuccessURL: cfg.CheckoutSuccessURL, CancelURL: cfg.CheckoutCancelURL, ReturnOrigins: origins,
		WebhookSecret: cfg.StripeWebhookSecret, WebhookTolerance: WebhookTolerance, AdjustmentMaxCents: cfg.AdjustmentMaxCents,
		HoldDefaultTTL: cfg.HoldDefaultTTL, HoldMaxTTL: 7 * 24 * time.Hour,
		IdempotencyTTL: cfg.IdempotencyTTL, IdempotencyStale: 5 * time.Minute, AutoTopUpCapMultiple: cfg.AutoTopUpCapMultiple,
		PortalURL: cfg.PublicBaseURL,
	})
	worker.Wallet = a.Wallet
	a.grpc, a.health = grpcservice.NewServer(grpcservice.Options{
		Logger:  log,
		Metrics: telemetry.NewGRPCServerMetrics(a.Registry),
		Auth:    callauth.NewServer(Service, cfg.InternalAuthSecret, callauth.AccessVerifier{Keys: keys, Issuer: cfg.JWTIssuer, Audience: cfg.JWTAudience}, grpcapi.Policy(), callauth.AcceptPrevious(cfg.InternalAuthSecretPrevious)),
	})
	walletv1.RegisterWalletServiceServer(a.grpc, grpcapi.NewServer(a.Wallet))
	return a, nil
}

// Serve serves gRPC on lis (and metrics on cfg.MetricsAddr when set), runs
// the hold and idempotency sweepers (when HoldSweepInterval > 0) and works
// the job queue (when JobWorkers > 0) until ctx ends, then drains for up to
// cfg.Grace(): gRPC and the jobs in flight side by side.
func (a *App) Serve(ctx context.Context, lis net.Listener) error {
	stopSweeps := func() {}
	if a.cfg.HoldSweepInterval > 0 {
		stopSweeps = process.Go(ctx, func(ctx context.Context) { a.Wallet.RunSweepers(ctx, a.cfg.HoldSweepInterval) })
	}
	workersStopped := make(chan struct{})
	served, doneServing := context.WithCancel(ctx)
	if a.cfg.JobWorkers > 0 {
		// The queue gets its own context: canceling Start's would cut
		// charges short; stopJobs stops it.
		if err := a.jobs.Start(context.WithoutCancel(ctx)); err != nil {
			doneServing()
			stopSweeps()
			return fmt.Errorf("start job workers: %w", err)
		}
		// Emails and events a killed process left running come back after
		// outbox.RescueAfter, not after JOB_RESCUE_AFTER (docs/adr/0014).
		stopRescuer := process.Go(ctx, func(ctx context.Context) { outbox.RunRescuer(ctx, a.pool, a.log, 30*time.Second) })
		go func() {
			defer close(workersStopped)
			<-served.Done()
			stopRescuer()
			a.stopJobs()
		}()
	} else {
		close(workersStopped)
	}
	err := grpcservice.Serve(ctx, a.log, lis, a.grpc, a.health, a.cfg.MetricsAddr, telemetry.AdminHandler(a.Registry, a.cfg.Pprof), a.cfg.Grace())
	doneServing()
	<-workersStopped
	stopSweeps()
	return err
}

// jobCancelTimeout bounds canceling the jobs still running after the grace.
const jobCancelTimeout = 2 * time.Second

// stopJobs stops fetching jobs and waits up to the grace for the running
// ones; those still running then are canceled: River rescues them later
// (JOB_RESCUE_AFTER), and Stripe's idempotency key makes the retry charge
// nothing twice.
func (a *App) stopJobs() {
	stopCtx, cancel := context.WithTimeout(context.Background(), a.cfg.Grace())
	defer cancel()
	if err := a.jobs.Stop(stopCtx); err != nil {
		a.log.Warn("job workers did not finish within SHUTDOWN_GRACE; canceling them", "err", err)
		hardCtx, hardCancel := context.WithTimeout(context.Background(), jobCancelTimeout)
		_ = a.jobs.StopAndCancel(hardCtx)
		hardCancel()
	}
}

// Close releases the database pool and client connections; it may be
// called more than once.
func (a *App) Close() { a.closers.Close() }

// SchemaCheck tells serve whether the database's schema is what this build
// needs (platform/process, Process.Schema): the wallet's migrations and
// River's (jobs.SchemaCheck).
func SchemaCheck(ctx context.Context, cfg Config) (string, error) {
	return jobs.SchemaCheck(ctx, cfg.DatabaseURL, migrations.FS, Service+" migrate")
}

// Migrate creates the database if it is missing and applies the wallet's
// migrations and River's (the job queue of automatic charges).
func Migrate(ctx context.Context, databaseURL string, log *slog.Logger) error {
	return jobs.Setup(ctx, databaseURL, migrations.FS, log)
}

// MigrateQueue applies River's migrations. Tests that make the database
// with dbtest.New(t, migrations.FS) call it next.
func MigrateQueue(ctx context.Context, databaseURL string, log *slog.Logger) error {
	return jobs.MigrateDatabase(ctx, databaseURL, log)
}
