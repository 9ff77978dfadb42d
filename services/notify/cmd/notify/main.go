// Command notify runs the notify service; `notify help` lists its
// commands.
package main

import (
	"context"
	"log/slog"

	"github.com/meterflow/meterflow/platform/process"
	"github.com/meterflow/meterflow/services/notify/app"
)

func main() { process.Main(notify) }

var notify = process.Process[app.Config, *app.App]{
	Name:    app.Service,
	Summary: "the notify service: emails queued by the other services, sent over SMTP",
	Serves:  "serve gRPC on GRPC_ADDR and metrics on METRICS_ADDR, send queued emails",
	Config:  app.ConfigFromEnv,
	New:     app.New,
	Listen:  process.GRPC(func(c app.Config) string { return c.GRPCAddr }),
	// Migrate applies the service's migrations and River's (the job queue's).
	Migrate: func(ctx context.Context, c app.Config, log *slog.Logger) error {
		return app.Migrate(ctx, c.DatabaseURL, log)
	},
	DatabaseConfig: app.DatabaseConfigFromEnv,
	Schema:         app.SchemaCheck,
}
