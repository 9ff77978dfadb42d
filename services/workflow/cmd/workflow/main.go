// Command workflow runs the workflow service; `workflow help` lists its
// commands.
package main

import (
	"context"
	"log/slog"

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
}
