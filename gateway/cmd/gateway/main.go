// Command gateway is Meterflow's public HTTP API.
//
//	gateway [serve]      serve HTTP on HTTP_ADDR, metrics on ADMIN_ADDR (default)
//	gateway healthcheck  GET /readyz on HTTP_ADDR; exit 0 when ready (Docker health checks)
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/meterflow/meterflow/gateway/app"
	"github.com/meterflow/meterflow/platform/telemetry"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	cmd := "serve"
	if len(args) > 0 {
		cmd = args[0]
	}
	switch cmd {
	case "serve":
		return serve(ctx)
	case "healthcheck":
		return healthcheck(ctx)
	default:
		return fmt.Errorf("unknown command %q (want serve or healthcheck)", cmd)
	}
}

func serve(ctx context.Context) error {
	cfg, err := app.ConfigFromEnv()
	if err != nil {
		return err
	}
	log := telemetry.NewLogger(app.Service, os.Stdout)
	// go-redis prints every failed dial to stderr; the rate limiter already
	// reports Redis outages (a log line a minute and a metric), so its own
	// lines go to debug level in our JSON log.
	redis.SetLogger(redisLogger{log})
	shutdownTracing, err := telemetry.SetupTracing(ctx, app.Service)
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = shutdownTracing(sctx)
	}()
	a, err := app.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer a.Close()
	lis, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen on HTTP_ADDR %s: %w", cfg.HTTPAddr, err)
	}
	return a.Serve(ctx, lis)
}

// healthcheck asks the running gateway's /readyz: distroless images have
// no curl for Docker's HEALTHCHECK.
func healthcheck(ctx context.Context) error {
	cfg, err := app.ConfigFromEnv()
	if err != nil {
		return err
	}
	host, port, err := net.SplitHostPort(cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("HTTP_ADDR: %w", err)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(host, port)+"/readyz", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return errors.New("healthcheck: /readyz answered " + resp.Status)
	}
	return nil
}

type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, "redis: "+fmt.Sprintf(format, v...))
}
