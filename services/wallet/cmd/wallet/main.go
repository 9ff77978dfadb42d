// Command wallet runs the wallet service and its operator commands;
// `wallet help` lists them.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/meterflow/meterflow/platform/process"
	"github.com/meterflow/meterflow/services/wallet/app"
)

func main() { process.Main(wallet) }

var wallet = process.Process[app.Config, *app.App]{
	Name:    app.Service,
	Summary: "the wallet service: balances, ledger, holds and Stripe top-ups",
	Serves:  "serve gRPC on GRPC_ADDR and metrics on METRICS_ADDR, sweep expired holds",
	Config:  app.ConfigFromEnv,
	New:     app.New,
	Listen:  process.GRPC(func(c app.Config) string { return c.GRPCAddr }),
	Migrate: func(ctx context.Context, c app.Config, log *slog.Logger) error {
		return app.Migrate(ctx, c.DatabaseURL, log)
	},
	DatabaseConfig: app.DatabaseConfigFromEnv,
	Schema:         app.SchemaCheck,
	Commands: []process.Command[app.Config]{
		{Name: "verify", Summary: "check the ledger invariants of every account, API key month, dispute hold and automatic top-up; exit 1 on any mismatch (reads DATABASE_URL, no secrets)", DatabaseOnly: true, Run: process.NoArgs(verify)},
		{Name: "parked", Summary: "list the parked top-ups (another currency reported by Stripe; reads DATABASE_URL, no secrets)", DatabaseOnly: true, Run: process.NoArgs(parked)},
		{Name: "reconcile", Args: "[--since 72h]", Summary: "apply the Stripe events of the window that the webhook missed (listed through Stripe's API); exit 1 when some cannot be matched", Run: reconcile},
		{Name: "dev-pay", Args: "--topup ID [--webhook-url URL]", Summary: "send a signed checkout.session.completed for a pending top-up (local development)", Run: devPay},
	},
}

func verify(ctx context.Context, call *process.Call[app.Config]) error {
	cfg, err := call.Config()
	if err != nil {
		return err
	}
	bad, err := app.Verify(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	for _, m := range bad {
		if m.Problem != "" {
			fmt.Fprintf(call.Out, "MISMATCH user=%s %s\n", m.UserID, m.Problem)
			continue
		}
		if k := m.KeySpend; k != nil {
			limit := "none"
			if k.LimitCents != nil {
				limit = fmt.Sprint(*k.LimitCents)
			}
			fmt.Fprintf(call.Out, "MISMATCH api_key=%s month=%s user=%s spent=%d held_and_captured_holds=%d limit=%s\n",
				k.APIKeyID, k.Month.Format("2006-01"), m.UserID, k.SpentCents, k.HoldsCents, limit)
			continue
		}
		fmt.Fprintf(call.Out, "MISMATCH user=%s balance=%d ledger_sum=%d held=%d open_holds=%d dispute_holds=%d negative_without_cause=%t\n",
			m.UserID, m.BalanceCents, m.LedgerCents, m.HeldCents, m.OpenHoldsCents, m.DisputeHoldsCents, m.NegativeWithoutCause)
	}
	if len(bad) > 0 {
		return fmt.Errorf("%d account(s), API key month(s), dispute(s) or top-up(s) break the ledger invariants", len(bad))
	}
	fmt.Fprintln(call.Out, "ok: every account's ledger sums to its balance and its holds and dispute holds to its held amount; every API key's month sums its held and captured holds and is within its limit; every dispute holds or charged back what its status says, every top-up's deposits match what it credited and every automatic top-up has its one crossing")
	return nil
}

func parked(ctx context.Context, call *process.Call[app.Config]) error {
	cfg, err := call.Config()
	if err != nil {
		return err
	}
	tops, err := app.ParkedTopUps(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	for _, t := range tops {
		fmt.Fprintf(call.Out, "PARKED topup=%s user=%s amount_cents=%d currency=%s parked_at=%s session=%s payment_intent=%s credited=%t reason=%q\n",
			t.ID, t.UserID, t.AmountCents, t.Currency, t.ParkedAt.UTC().Format(time.RFC3339), t.CheckoutSessionID, t.PaymentIntentID, t.Credited, t.ParkedReason)
	}
	fmt.Fprintf(call.Out, "%d parked top-up(s)\n", len(tops))
	return nil
}

func devPay(ctx context.Context, call *process.Call[app.Config]) error {
	topUp := call.Flags().String("topup", "", "id of the pending top-up to pay")
	url := call.Flags().String("webhook-url", "http://127.0.0.1:8080/v1/webhooks/stripe", "the gateway's Stripe webhook URL")
	if err := call.Parse(); err != nil {
		return err
	}
	if *topUp == "" {
		return call.Usagef("--topup is required")
	}
	cfg, err := call.Config()
	if err != nil {
		return err
	}
	if cfg.Production() {
		return errors.New("refused: for local development only (APP_ENV=production)")
	}
	code, err := app.DevPay(ctx, cfg, *topUp, *url)
	if err != nil {
		return err
	}
	fmt.Fprintf(call.Out, "top-up %s: webhook answered %d\n", *topUp, code)
	return nil
}

func reconcile(ctx context.Context, call *process.Call[app.Config]) error {
	since := call.Flags().Duration("since", 72*time.Hour, "how far back to list Stripe's events (Stripe keeps them 30 days)")
	if err := call.Parse(); err != nil {
		return err
	}
	if *since <= 0 || *since > 30*24*time.Hour {
		return call.Usagef("--since must be between 1s and 720h (Stripe lists events of the last 30 days)")
	}
	cfg, err := call.Config()
	if err != nil {
		return err
	}
	// Logs (what was booked, what needs an operator) go to standard error
	// as JSON; the report to standard output.
	rep, err := app.Reconcile(ctx, cfg, time.Now().Add(-*since), slog.New(slog.NewJSONHandler(call.Err, nil)))
	for _, f := range rep.Fixed {
		fmt.Fprintf(call.Out, "FIXED event=%s type=%s created=%s %s\n", f.EventID, f.Type, f.Created.Format(time.RFC3339), f.Detail)
	}
	for _, u := range rep.Unmatched {
		fmt.Fprintf(call.Out, "UNMATCHED event=%s type=%s created=%s %s\n", u.EventID, u.Type, u.Created.Format(time.RFC3339), u.Detail)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(call.Out, "%d event(s) since %s: %d fixed, %d unmatched\n", rep.Seen, rep.Since.UTC().Format(time.RFC3339), len(rep.Fixed), len(rep.Unmatched))
	if len(rep.Unmatched) > 0 {
		return fmt.Errorf("%d Stripe event(s) could not be matched: see docs/operations.md, \"Reconciliation\"", len(rep.Unmatched))
	}
	return nil
}
