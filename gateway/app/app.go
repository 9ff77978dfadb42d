// Package app wires the gateway: used by cmd/gateway and by the end-to-end
// tests, exactly as in production.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"

	"github.com/meterflow/meterflow/gateway/console"
	"github.com/meterflow/meterflow/gateway/internal/api"
	"github.com/meterflow/meterflow/gateway/internal/apikeyauth"
	"github.com/meterflow/meterflow/gateway/internal/clientip"
	"github.com/meterflow/meterflow/gateway/internal/openapi"
	"github.com/meterflow/meterflow/gateway/internal/ratelimit"
	"github.com/meterflow/meterflow/gateway/internal/rpcclient"
	"github.com/meterflow/meterflow/gateway/portal"
	"github.com/meterflow/meterflow/platform/callauth"
	"github.com/meterflow/meterflow/platform/grpcservice"
	"github.com/meterflow/meterflow/platform/process"
	"github.com/meterflow/meterflow/platform/telemetry"
	identityv1 "github.com/meterflow/meterflow/proto/gen/meterflow/identity/v1"
	notifyv1 "github.com/meterflow/meterflow/proto/gen/meterflow/notify/v1"
	walletv1 "github.com/meterflow/meterflow/proto/gen/meterflow/wallet/v1"
	workflowv1 "github.com/meterflow/meterflow/proto/gen/meterflow/workflow/v1"
)

// App is a configured gateway, ready to serve.
type App struct {
	// Registry holds the process's Prometheus metrics, served on AdminAddr.
	Registry *prometheus.Registry

	cfg     Config
	log     *slog.Logger
	closers process.Closers
	conns   map[string]*grpc.ClientConn
	redis   *redis.Client
	limiter *ratelimit.Limiter
	server  *api.Server
}

// New dials the services (lazily: nothing fails if they are not up yet),
// connects Redis and builds the HTTP app. It does not listen.
func New(ctx context.Context, cfg Config, log *slog.Logger) (_ *App, err error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	a := &App{Registry: telemetry.NewRegistry(), cfg: cfg, log: log, conns: map[string]*grpc.ClientConn{}}
	defer a.closers.CloseOnError(&err)
	ips, err := clientip.New(cfg.TrustedProxyHeader, cfg.TrustedProxies)
	if err != nil {
		return nil, err
	}
	minter, err := callauth.NewMinter(Service, cfg.InternalAuthSecret)
	if err != nil {
		return nil, err
	}
	for name, addr := range map[string]string{"identity": cfg.IdentityAddr, "wallet": cfg.WalletAddr, "workflow": cfg.WorkflowAddr} {
		conn, err := grpcservice.Dial(addr, minter.Credentials(name))
		if err != nil {
			return nil, err
		}
		a.closers.AddCloser(conn)
		a.conns[name] = conn
	}
	ropts, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	// Short timeouts and no retries: a slow Redis must cost a request
	// milliseconds before the fallback limiter decides, not seconds.
	ropts.DialTimeout = 250 * time.Millisecond
	ropts.ReadTimeout = 250 * time.Millisecond
	ropts.WriteTimeout = 250 * time.Millisecond
	ropts.MaxRetries = 0
	ropts.DialerRetries = 1
	ropts.PoolTimeout = 250 * time.Millisecond
	a.redis = redis.NewClient(ropts)
	a.closers.AddCloser(a.redis)
	a.limiter, err = ratelimit.New(a.redis, ratelimit.Options{Prefix: cfg.RateLimitPrefix, Logger: log, Registry: a.Registry})
	if err != nil {
		return nil, err
	}

	// Every client's errors name their RPC (rpcclient), for the 5xx logs.
	rawIdentity := identityv1.NewIdentityServiceClient(rpcclient.Wrap(a.conns["identity"]))
	apiKeys, err := a.startAPIKeys(rawIdentity, cfg.RateLimitPrefix, log)
	if err != nil {
		a.Close()
		return nil, err
	}
	// Revocations and disabled users invalidate cached API keys at once.
	identity := apikeyauth.Invalidating{IdentityServiceClient: rawIdentity, Keys: apiKeys}
	wallet := walletv1.NewWalletServiceClient(rpcclient.Wrap(a.conns["wallet"]))
	workflow := workflowv1.NewWorkflowServiceClient(rpcclient.Wrap(a.conns["workflow"]))
	// Notify serves only the webhook routes: it is dialed beside the three
	// services /readyz/detail reports, not among them.
	notifyConn, err := grpcservice.Dial(cfg.NotifyAddr, minter.Credentials("notify"))
	if err != nil {
		return nil, err
	}
	a.closers.AddCloser(notifyConn)
	webhooks := notifyv1.NewWebhookServiceClient(rpcclient.Wrap(notifyConn))
	keys := cfg.Keys
	if keys == nil {
		keys = callauth.NewRemoteKeySet(identity)
	}
	tokens, err := callauth.NewCachingVerifier(callauth.AccessVerifier{Keys: keys, Issuer: cfg.JWTIssuer, Audience: cfg.JWTAudience}, cfg.TokenCacheSize)
	if err != nil {
		return nil, err
	}
	a.server, err = api.New(api.Deps{
		Identity: identity,
		Wallet:   wallet,
		Workflow: workflow,
		Webhooks: webhooks,
		Tokens:   tokens,
		APIKeys:  apiKeys,
		Limiter:  a.limiter,
		ClientIP: ips,
		Log:      log,
		Registry: a.Registry,
		Limits: api.Limits{
			AuthPerMinute: cfg.AuthPerMinute, RunsPerMinute: cfg.RunsPerMinute, APIPerMinute: cfg.APIPerMinute,
			TopUpsPerMinute: cfg.TopUpsPerMinute, EmailsPerHour: cfg.EmailsPerHour,
		},
		RequireVerifiedEmail: cfg.RequireVerifiedEmail,
		CallTimeout:          cfg.CallTimeout,
		RunTimeout:           cfg.RunTimeout,
		ReadTimeout:          cfg.ReadTimeout,
		WriteTimeout:         cfg.WriteTimeout,
		IdleTimeout:          cfg.IdleTimeout,
		CORSOrigins:          cfg.CORSAllowedOrigins,
		HSTSMaxAge:           cfg.HSTSMaxAge,
		Ready:                a.ready,
		OpenAPI:              openapi.JSON, // converted on the first request, not held by an idle gateway
	})
	if err != nil {
		return nil, err
	}
	if len(cfg.Console.SessionKey) == 0 {
		// validate refuses this in production.
		cfg.Console.SessionKey = console.DevSessionKey()
		log.WarnContext(ctx, "SESSION_ENCRYPTION_KEY is not set: admin console sessions are sealed with the published development key")
	}
	clientIP := func(c *fiber.Ctx) string {
		peer, _ := netip.AddrFromSlice(c.Context().RemoteIP())
		if a := ips.ClientIP(peer.Unmap(), func(h string) string { return c.Get(h) }); a.IsValid() {
			return a.String()
		}
		return ""
	}
	con, err := console.New(cfg.Console, console.Deps{
		Identity: identity,
		Wallet:   wallet,
		Workflow: workflow,
		Webhooks: webhooks,
		Users:    callauth.AccessVerifier{Keys: keys, Issuer: cfg.JWTIssuer, Audience: cfg.JWTAudience},
		Redis:    a.redis,
		Limiter:  a.limiter, // login attempts: class console_login, the same metrics
		Log:      log,
		ClientIP: clientIP,
	})
	if err != nil {
		return nil, err
	}
	con.Register(a.server.App().Group("/admin"))
	if len(cfg.Portal.SessionKey) == 0 {
		cfg.Portal.SessionKey = cfg.Console.SessionKey // one key seals both sites' sessions
	}
	port, err := portal.New(cfg.Portal, portal.Options{
		PublicBaseURL: cfg.PublicBaseURL, RequireVerifiedEmail: cfg.RequireVerifiedEmail,
		AuthPerMinute: cfg.AuthPerMinute, RunsPerMinute: cfg.RunsPerMinute,
		TopUpsPerMinute: cfg.TopUpsPerMinute, EmailsPerHour: cfg.EmailsPerHour,
	}, portal.Deps{
		Identity: identity, Wallet: wallet, Workflow: workflow, Webhooks: webhooks, Redis: a.redis, Log: log,
		Users:    callauth.AccessVerifier{Keys: keys, Issuer: cfg.JWTIssuer, Audience: cfg.JWTAudience},
		Limiter:  a.limiter, // login attempts: class portal_login; runs, top-ups and emails: the API's budgets
		ClientIP: clientIP,
	})
	if err != nil {
		return nil, err
	}
	port.Register(a.server.App().Group("/app"))
	return a, nil
}

// startAPIKeys builds the API-key authenticator and starts its listener
// of the other replicas' invalidations, on the deployment's Redis channel
// (prefix + "apikeys:invalidate"), until Close.
func (a *App) startAPIKeys(identity apikeyauth.Identity, prefix string, log *slog.Logger) (*apikeyauth.Authenticator, error) {
	keys, err := apikeyauth.New(identity, apikeyauth.Options{
		Bus: apikeyauth.NewRedisBus(a.redis, prefix+"apikeys:invalidate", log), Log: log, Registry: a.Registry,
	})
	if err != nil {
		return nil, err
	}
	a.closers.Add(process.Go(context.Background(), keys.Listen))
	return keys, nil
}

// Fiber returns the HTTP app, e.g. for app.Test in tests.
func (a *App) Fiber() *fiber.App { return a.server.App() }

// Routes lists "METHOD /path" of every public route, OpenAPI style.
func (a *App) Routes() []string { return a.server.Routes() }

// FallbackActive reports whether rate limits are being decided without Redis.
func (a *App) FallbackActive() bool { return a.limiter.FallbackActive() }

// Serve answers HTTP on lis (and serves the admin endpoints on AdminAddr
// when set) until ctx ends, then shuts down, letting in-flight requests
// finish for up to cfg.Grace().
func (a *App) Serve(ctx context.Context, lis net.Listener) error {
	errc := make(chan error, 2)
	go func() { errc <- a.server.Serve(lis) }()

	var admin *http.Server
	if a.cfg.AdminAddr != "" {
		alis, err := net.Listen("tcp", a.cfg.AdminAddr)
		if err != nil {
			_ = a.server.App().Shutdown()
			return fmt.Errorf("admin listener on %s: %w", a.cfg.AdminAddr, err)
		}
		admin = &http.Server{Handler: a.adminMux(), ReadHeaderTimeout: 5 * time.Second}
		go func() {
			if err := admin.Serve(alis); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("admin server: %w", err)
			}
		}()
	}
	a.log.InfoContext(ctx, "serving", "http", lis.Addr().String(), "admin", a.cfg.AdminAddr)

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	sctx, cancel := context.WithTimeout(context.Background(), a.cfg.Grace())
	defer cancel()
	if err := a.server.App().ShutdownWithContext(sctx); err != nil {
		a.log.Warn("HTTP shutdown did not finish in time", "err", err)
	}
	if admin != nil {
		_ = admin.Shutdown(sctx)
	}
	a.log.Info("stopped")
	return runErr
}

// adminMux serves the operator endpoints, never exposed publicly: metrics,
// pprof when enabled, the gateway's own readiness (the probe's) and the
// dependency detail.
func (a *App) adminMux() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", telemetry.AdminHandler(a.Registry, a.cfg.Pprof))
	mux.HandleFunc("GET "+SelfReadyPath, a.selfReady)
	mux.HandleFunc("GET "+ReadyDetailPath, a.readyDetail)
	return mux
}

// AdminHandler returns the admin endpoints' handler (metrics, pprof), for tests.
func (a *App) AdminHandler() http.Handler { return a.adminMux() }

// Close releases the connections; call after Serve returned. It may be
// called more than once.
func (a *App) Close() { a.closers.Close() }
