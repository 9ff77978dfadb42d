// Command workflow runs the workflow service; `workflow help` lists its
// commands.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/meterflow/meterflow/platform/process"
	"github.com/meterflow/meterflow/services/workflow/app"
)

func main() { process.Main(workflow) }

var workflow = process.Process[app.Config, *app.App]{
	Name:    app.Service,
	Summary: "the workflow service: n8n workflows run for a fee from the wallet",
	Serves:  "serve gRPC on GRPC_ADDR and metrics on METRICS_ADDR, work off async runs and settle overdue runs",
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
		{Name: "reseal", Summary: "seal every workflow's auth header value again under WORKFLOW_SECRETS_KEY (the last step of its rotation)", Run: process.NoArgs(reseal)},
	},
}

// reseal reports what it did on stdout; unreadable values fail the
// command, since their runs fail until an admin enters them again.
func reseal(ctx context.Context, call *process.Call[app.Config]) error {
	cfg, err := call.Config()
	if err != nil {
		return err
	}
	res, err := app.Reseal(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(call.Out, "key %s: %d value(s) sealed again, %d already current\n", res.KeyID, res.Resealed, res.Current)
	if len(res.Unreadable) > 0 {
		return fmt.Errorf("%d workflow(s) have an auth header value no configured key opens (sealed with a key not in WORKFLOW_SECRETS_KEY or WORKFLOW_SECRETS_KEYS_PREVIOUS): %s; "+
			"add that key to WORKFLOW_SECRETS_KEYS_PREVIOUS and run again, or enter the values again in the admin console", len(res.Unreadable), strings.Join(res.Unreadable, ", "))
	}
	return nil
}
