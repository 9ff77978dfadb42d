// Command workflow runs the workflow service:
//
//	workflow [serve]       serve gRPC (and metrics), work off async runs and
//	                       settle overdue runs until SIGINT/SIGTERM
//	workflow migrate       create the database if missing, apply the service's
//	                       and River's migrations
//	workflow healthcheck   exit 0 if the service on GRPC_ADDR is SERVING
package main

import (
	"context"
	"fmt"
	"github.com/meterflow/meterflow/platform/grpcservice"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/meterflow/meterflow/platform/telemetry"
	"github.com/meterflow/meterflow/services/workflow/app"
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
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd = args[0]
	}
	switch cmd {
	case "serve":
		return serve(ctx)
	case "migrate":
		return migrate(ctx)
	case "healthcheck":
		return healthcheck(ctx)
	default:
		return fmt.Errorf("unknown command %q (want serve, migrate or healthcheck)", cmd)
	}
}

func serve(ctx context.Context) error {
	log := telemetry.NewLogger(app.Service, os.Stdout)
	cfg, err := app.ConfigFromEnv()
	if err != nil {
		return fmt.Errorf("workflow: config: %w", err)
	}
	shutdownTracing, err := telemetry.SetupTracing(ctx, app.Service)
	if err != nil {
		return err
	}
	defer func() { _ = shutdownTracing(context.WithoutCancel(ctx)) }()

	a, err := app.New(ctx, cfg, log)
	if err != nil {
		return fmt.Errorf("workflow: %w", err)
	}
	defer a.Close()
	lis, err := net.Listen("tcp", cfg.GRPCAddr)
	if err != nil {
		return fmt.Errorf("workflow: listen on GRPC_ADDR %s: %w", cfg.GRPCAddr, err)
	}
	return a.Serve(ctx, lis)
}

func migrate(ctx context.Context) error {
	log := telemetry.NewLogger(app.Service, os.Stdout)
	cfg, err := app.ConfigFromEnv()
	if err != nil {
		return fmt.Errorf("workflow: config: %w", err)
	}
	if err := app.Migrate(ctx, cfg.DatabaseURL, log); err != nil {
		return fmt.Errorf("workflow migrate: %w", err)
	}
	log.InfoContext(ctx, "database is up to date")
	return nil
}

func healthcheck(ctx context.Context) error {
	addr := os.Getenv("GRPC_ADDR")
	if addr == "" {
		addr = "127.0.0.1:50053"
	}
	return grpcservice.Healthcheck(ctx, addr)
}
