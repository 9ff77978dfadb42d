// Package app wires the identity service: used by cmd/identity and, in
// process, by the gateway's end-to-end tests, exactly as in production.
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
	"github.com/meterflow/meterflow/services/identity/internal/grpcapi"
	"github.com/meterflow/meterflow/services/identity/internal/identity"
	"github.com/meterflow/meterflow/services/identity/internal/postgres"
	"github.com/meterflow/meterflow/services/identity/migrations"
)

// App is a configured identity service, ready to serve.
type App struct {
	// Registry holds the process's Prometheus metrics, served on MetricsAddr.
	Registry *prometheus.Registry
	// KeyID is the kid of the key this process signs access tokens with.
	KeyID string

	cfg     Config
	log     *slog.Logger
	closers process.Closers
	svc     *identity.Service
	hasher  *identity.Hasher
	grpc    *grpc.Server
	health  *health.Server
	jobs    *river.Client[pgx.Tx]
}

// New opens the database, registers the signing key as the active one
// (retiring the others), dials notify and builds the gRPC server and the
// job client (the email outbox and password resets). It does not listen
// and does not migrate, but fails when River's tables are missing.
func New(ctx context.Context, cfg Config, log *slog.Logger) (_ *App, err error) {
	cfg = cfg.withDevelopmentDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	a := &App{cfg: cfg, log: log}
	defer a.closers.CloseOnError(&err)
	key := cfg.SigningKey
	if key == nil {
		var err error
		if key, err = identity.GenerateKey(); err != nil {
			return nil, err
		}
		log.WarnContext(ctx, "JWT_SIGNING_KEY_FILE is not set: signing with an ephemeral key; access tokens stop verifying after a restart")
	}
	if a.hasher, err = identity.NewHasher(identity.Argon2Params(cfg.Argon2), cfg.hashConcurrency()); err != nil {
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
	notify := cfg.Notify
	if notify == nil {
		minter, err := callauth.NewMinter(Service, cfg.InternalAuthSecret)
		if err != nil {
			return nil, err
		}
		conn, err := grpcservice.Dial(cfg.NotifyAddr, minter.Credentials("notify"))
		if err != nil {
			return nil, err
		}
		a.closers.AddCloser(conn)
		notify = notifyv1.NewNotifyServiceClient(conn)
	}
	a.Registry = telemetry.NewRegistry()
	if err := database.RegisterPoolMetrics(a.Registry, pool); err != nil {
		return nil, err
	}
	reset := &resetWorker{}
	if a.jobs, err = newJobs(pool, notify, reset, a.Registry, log); err != nil {
		return nil, err
	}
	signer := identity.NewSigner(key, cfg.JWTIssuer, cfg.JWTAudience, cfg.AccessTokenTTL)
	a.svc = identity.NewService(identity.Config{
		Store: postgres.New(pool, a.jobs), Hasher: a.hasher, Signer: signer,
		RefreshTTL: cfg.RefreshTokenTTL, Throttle: identity.DefaultLoginThrottle, Now: cfg.Now,
		Links: identity.Links{BaseURL: cfg.PublicBaseURL},
	})
	reset.svc = a.svc
	if err := a.svc.PublishSigningKey(ctx); err != nil {
		return nil, fmt.Errorf("%w (has `identity migrate` run?)", err)
	}
	log.InfoContext(ctx, "signing key published", "kid", signer.KeyID())

	a.KeyID = signer.KeyID()
	keys := cfg.Keys
	if keys == nil {
		keys = identity.NewKeySet(a.svc)
	}
	a.grpc, a.health = grpcservice.NewServer(grpcservice.Options{
		Logger:  log,
		Metrics: telemetry.NewGRPCServerMetrics(a.Registry),
		Auth:    callauth.NewServer(Service, cfg.InternalAuthSecret, callauth.AccessVerifier{Keys: keys, Issuer: cfg.JWTIssuer, Audience: cfg.JWTAudience}, grpcapi.Policy(), callauth.AcceptPrevious(cfg.InternalAuthSecretPrevious)),
	})
	identityv1.RegisterIdentityServiceServer(a.grpc, grpcapi.NewServer(a.svc, grpcapi.NewMetrics(a.Registry)))
	return a, nil
}

// Serve serves gRPC on lis (and metrics on cfg.MetricsAddr when set) and
// works off the email and reset jobs until ctx ends, then drains both for
// up to cfg.Grace(). It also prunes expired rows every PruneInterval.
func (a *App) Serve(ctx context.Context, lis net.Listener) error {
	// The job client gets its own context: canceling Start's would cut
	// running jobs short; stopJobs stops it.
	if err := a.jobs.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("start email jobs: %w", err)
	}
	served, doneServing := context.WithCancel(ctx)
	jobsStopped := make(chan struct{})
	go func() {
		defer close(jobsStopped)
		<-served.Done() // SIGTERM, or the server failed
		a.stopJobs()
	}()
	stopPrune := process.Go(ctx, a.every(PruneInterval, "prune failed", a.Prune))
	stopRenew := process.Go(ctx, a.every(identity.KeyRenewInterval, "renewing the signing key's lease failed; retrying at the next interval", a.RenewSigningKey))
	err := grpcservice.Serve(ctx, a.log, lis, a.grpc, a.health, a.cfg.MetricsAddr, telemetry.AdminHandler(a.Registry, a.cfg.Pprof), a.cfg.Grace())
	// The last renewal's lease (identity.KeyLease) outlasts the drain.
	doneServing()
	stopRenew()
	stopPrune()
	<-jobsStopped
	return err
}

// every returns a loop for process.Go that calls fn each interval until
// its context ends, logging failed calls with msg: pruning expired rows,
// renewing the signing key's lease (see identity.KeyLease).
func (a *App) every(interval time.Duration, msg string, fn func(context.Context) error) func(context.Context) {
	return func(ctx context.Context) {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := fn(ctx); err != nil && ctx.Err() == nil {
					a.log.ErrorContext(ctx, msg, "kid", a.KeyID, "err", err)
				}
			}
		}
	}
}

// RenewSigningKey renews the lease of the key this replica signs with, as
// Serve does every identity.KeyRenewInterval; exported for tests.
func (a *App) RenewSigningKey(ctx context.Context) error {
	return a.svc.PublishSigningKey(ctx)
}

// PruneInterval is how often Serve deletes expired refresh tokens and
// stale login-failure counters.
const PruneInterval = 10 * time.Minute

// Prune deletes refresh tokens expired more than a day ago, login failure
// counters older than the throttle window and remembered login clients
// older than their exemption. Serve runs it periodically; it is exported
// for tests and operators.
func (a *App) Prune(ctx context.Context) error {
	n, err := a.svc.Prune(ctx)
	if err != nil {
		return err
	}
	if n.Tokens > 0 || n.Failures > 0 || n.KnownClients > 0 || n.Links > 0 {
		a.log.InfoContext(ctx, "pruned expired rows", "refresh_tokens", n.Tokens, "login_failure_counters", n.Failures, "known_login_clients", n.KnownClients, "account_links", n.Links)
	}
	return nil
}

// Close releases the database pool; it may be called more than once.
func (a *App) Close() { a.closers.Close() }

// SchemaCheck tells serve whether the database's schema is what this build
// needs (platform/process, Process.Schema): the service's migrations and
// River's (jobs.SchemaCheck).
func SchemaCheck(ctx context.Context, cfg Config) (string, error) {
	return jobs.SchemaCheck(ctx, cfg.DatabaseURL, migrations.FS, Service+" migrate")
}

// Migrate creates the database if it is missing and applies the service's
// migrations and River's (the email outbox's job tables).
func Migrate(ctx context.Context, databaseURL string, log *slog.Logger) error {
	return jobs.Setup(ctx, databaseURL, migrations.FS, log)
}

// MigrateJobs applies River's migrations. Tests that make the database
// with dbtest.New(t, migrations.FS) call it next.
func MigrateJobs(ctx context.Context, databaseURL string, log *slog.Logger) error {
	return jobs.MigrateDatabase(ctx, databaseURL, log)
}
