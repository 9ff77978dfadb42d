// Command gateway is Meterflow's public HTTP API; `gateway help` lists its
// commands.
package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/redis/go-redis/v9"

	"github.com/meterflow/meterflow/gateway/app"
	"github.com/meterflow/meterflow/platform/process"
)

func main() { process.Main(gateway) }

var gateway = process.Process[app.Config, *app.App]{
	Name:    app.Service,
	Summary: "Meterflow's public HTTP API and admin console",
	Serves:  "serve HTTP on HTTP_ADDR and metrics on ADMIN_ADDR",
	Config:  app.ConfigFromEnv,
	New: func(ctx context.Context, cfg app.Config, log *slog.Logger) (*app.App, error) {
		// go-redis prints every failed dial to stderr; the rate limiter
		// already reports Redis outages (a log line a minute and a metric),
		// so its own lines go to debug level in our JSON log.
		redis.SetLogger(redisLogger{log})
		return app.New(ctx, cfg, log)
	},
	Listen: process.HTTP(func(c app.Config) string { return c.HTTPAddr }, "/readyz"),
}

type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, "redis: "+fmt.Sprintf(format, v...))
}
