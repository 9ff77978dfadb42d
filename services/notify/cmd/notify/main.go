// Command notify runs the notify service; `notify help` lists its
// commands.
package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/meterflow/meterflow/platform/process"
	"github.com/meterflow/meterflow/services/notify/app"
)

func main() { process.Main(notify) }

var notify = process.Process[app.Config, *app.App]{
	Name:    app.Service,
	Summary: "the notify service: emails and webhook events queued by the other services, sent over SMTP and HTTPS",
	Serves:  "serve gRPC on GRPC_ADDR and metrics on METRICS_ADDR, send queued emails, deliver webhooks",
	Config:  app.ConfigFromEnv,
	New:     app.New,
	Listen:  process.GRPC(func(c app.Config) string { return c.GRPCAddr }),
	// Migrate applies the service's migrations and River's (the job queue's).
	Migrate: func(ctx context.Context, c app.Config, log *slog.Logger) error {
		return app.Migrate(ctx, c.DatabaseURL, log)
	},
	DatabaseConfig: app.DatabaseConfigFromEnv,
	Schema:         app.SchemaCheck,
	Commands: []process.Command[app.Config]{
		{Name: "reseal", Summary: "seal every webhook endpoint's secrets again under WEBHOOK_SECRETS_KEY (the last step of its rotation)", Run: process.NoArgs(reseal)},
	},
}

// reseal reports what it did on stdout; secrets no configured key opens
// fail the command: those endpoints' attempts fail until their owners
// rotate the secret.
func reseal(ctx context.Context, call *process.Call[app.Config]) error {
	cfg, err := call.Config()
	if err != nil {
		return err
	}
	res, err := app.Reseal(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(call.Out, "key %s: %d endpoint(s) sealed again, %d already current\n", res.KeyID, res.Resealed, res.Current)
	if len(res.Unreadable) > 0 {
		return fmt.Errorf("%d webhook endpoint(s) have a secret no configured key opens (sealed with a key not in WEBHOOK_SECRETS_KEY or WEBHOOK_SECRETS_KEYS_PREVIOUS): %v; "+
			"add that key to WEBHOOK_SECRETS_KEYS_PREVIOUS and run again, or ask their owners to rotate the secret", len(res.Unreadable), res.Unreadable)
	}
	return nil
}
