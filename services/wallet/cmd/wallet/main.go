// Command wallet runs the wallet service and its operator commands:
//
//	wallet [serve]            serve gRPC (and metrics), sweep expired holds, until SIGINT/SIGTERM
//	wallet migrate            create the database if missing, apply migrations
//	wallet verify             check the ledger invariants of every account; exit 1 on any mismatch
//	wallet parked             list the parked top-ups (another currency reported by Stripe)
//	wallet dev-pay --topup ID send a signed checkout.session.completed for a pending top-up (local development)
//	wallet healthcheck        exit 0 if the service on GRPC_ADDR is SERVING
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/meterflow/meterflow/platform/grpcservice"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/meterflow/meterflow/platform/telemetry"
	"github.com/meterflow/meterflow/services/wallet/app"
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
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(ctx)
	case "migrate":
		return migrate(ctx)
	case "verify":
		return verify(ctx)
	case "parked":
		return parked(ctx)
	case "dev-pay":
		return devPay(ctx, args)
	case "healthcheck":
		cfg, err := app.ConfigFromEnv()
		if err != nil {
			return fmt.Errorf("wallet: config: %w", err)
		}
		return grpcservice.Healthcheck(ctx, cfg.GRPCAddr)
	default:
		return fmt.Errorf("unknown command %q (want serve, migrate, verify, parked, dev-pay or healthcheck)", cmd)
	}
}

func serve(ctx context.Context) error {
	log := telemetry.NewLogger(app.Service, os.Stdout)
	cfg, err := app.ConfigFromEnv()
	if err != nil {
		return fmt.Errorf("wallet: config: %w", err)
	}
	shutdownTracing, err := telemetry.SetupTracing(ctx, app.Service)
	if err != nil {
		return err
	}
	defer func() { _ = shutdownTracing(context.WithoutCancel(ctx)) }()

	a, err := app.New(ctx, cfg, log)
	if err != nil {
		return fmt.Errorf("wallet: %w", err)
	}
	defer a.Close()
	lis, err := net.Listen("tcp", cfg.GRPCAddr)
	if err != nil {
		return fmt.Errorf("wallet: listen on GRPC_ADDR %s: %w", cfg.GRPCAddr, err)
	}
	return a.Serve(ctx, lis)
}

func migrate(ctx context.Context) error {
	log := telemetry.NewLogger(app.Service, os.Stdout)
	cfg, err := app.ConfigFromEnv()
	if err != nil {
		return fmt.Errorf("wallet: config: %w", err)
	}
	if err := app.Migrate(ctx, cfg.DatabaseURL, log); err != nil {
		return fmt.Errorf("wallet migrate: %w", err)
	}
	log.InfoContext(ctx, "database is up to date")
	return nil
}

func verify(ctx context.Context) error {
	cfg, err := app.ConfigFromEnv()
	if err != nil {
		return fmt.Errorf("wallet: config: %w", err)
	}
	bad, err := app.Verify(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	for _, m := range bad {
		fmt.Printf("MISMATCH user=%s balance=%d ledger_sum=%d held=%d open_holds=%d negative_without_cause=%t\n",
			m.UserID, m.BalanceCents, m.LedgerCents, m.HeldCents, m.OpenHoldsCents, m.NegativeWithoutCause)
	}
	if len(bad) > 0 {
		return fmt.Errorf("wallet verify: %d account(s) break the ledger invariants", len(bad))
	}
	fmt.Println("ok: every account's ledger sums to its balance and its holds to its held amount")
	return nil
}

func parked(ctx context.Context) error {
	cfg, err := app.ConfigFromEnv()
	if err != nil {
		return fmt.Errorf("wallet: config: %w", err)
	}
	tops, err := app.ParkedTopUps(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	for _, t := range tops {
		fmt.Printf("PARKED topup=%s user=%s amount_cents=%d currency=%s parked_at=%s session=%s payment_intent=%s credited=%t reason=%q\n",
			t.ID, t.UserID, t.AmountCents, t.Currency, t.ParkedAt.UTC().Format(time.RFC3339), t.CheckoutSessionID, t.PaymentIntentID, t.Credited, t.ParkedReason)
	}
	fmt.Printf("%d parked top-up(s)\n", len(tops))
	return nil
}

func devPay(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("dev-pay", flag.ContinueOnError)
	topUp := fs.String("topup", "", "id of the pending top-up to pay")
	url := fs.String("webhook-url", "http://127.0.0.1:8080/v1/webhooks/stripe", "the gateway's Stripe webhook URL")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *topUp == "" || fs.NArg() > 0 {
		return errors.New("usage: wallet dev-pay --topup ID [--webhook-url URL]")
	}
	cfg, err := app.ConfigFromEnv()
	if err != nil {
		return fmt.Errorf("wallet: config: %w", err)
	}
	if cfg.Production() {
		return errors.New("wallet dev-pay is for local development only (APP_ENV=production)")
	}
	code, err := app.DevPay(ctx, cfg, *topUp, *url)
	if err != nil {
		return err
	}
	fmt.Printf("top-up %s: webhook answered %d\n", *topUp, code)
	return nil
}
