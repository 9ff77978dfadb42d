package process

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/meterflow/meterflow/platform/telemetry"
)

// TracingShutdownTimeout bounds the flush of the last spans when serve
// ends: enough for a batch to reach a collector, short enough to exit
// well within Kubernetes' termination grace.
const TracingShutdownTimeout = 5 * time.Second

// serve is the lifecycle of every process: logger, configuration and its
// warnings, tracing, New, listen, Serve until ctx ends, Close, and the
// tracing flush. Log lines go to standard output.
func (p Process[C, S]) serve(ctx context.Context, call *Call[C]) error {
	log := newLogger(p.Name, call.Out)
	cfg, err := call.Config()
	if err != nil {
		return err
	}
	for _, w := range cfg.Base().Warnings {
		log.WarnContext(ctx, w)
	}
	shutdownTracing, err := telemetry.SetupTracing(ctx, p.Name)
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), TracingShutdownTimeout)
		defer cancel()
		if err := shutdownTracing(sctx); err != nil {
			log.Warn("flushing traces failed", "err", err)
		}
	}()
	lis, stopped, err := p.waitForSchema(ctx, cfg, log)
	if err != nil || stopped {
		return err
	}
	srv, err := p.New(ctx, cfg, log)
	if err != nil {
		if lis != nil {
			_ = lis.Close()
		}
		return err
	}
	defer srv.Close()
	if lis == nil {
		addr := p.Listen.Addr(cfg)
		if lis, err = net.Listen("tcp", addr); err != nil {
			return fmt.Errorf("listen on %s %s: %w", p.Listen.Var, addr, err)
		}
	}
	return srv.Serve(ctx, lis)
}

// version prints the build the binary carries (platform/telemetry).
func (p Process[C, S]) version(_ context.Context, call *Call[C]) error {
	fmt.Fprintf(call.Out, "%s %s\n", p.Name, telemetry.BuildString())
	return nil
}

// migrate runs the process's migrations; its log goes to standard output.
func (p Process[C, S]) migrate(ctx context.Context, call *Call[C]) error {
	cfg, err := call.Config()
	if err != nil {
		return err
	}
	log := newLogger(p.Name, call.Out)
	if err := p.Migrate(ctx, cfg, log); err != nil {
		return err
	}
	log.InfoContext(ctx, "database is up to date")
	return nil
}

// healthcheck asks the process on its configured address, as a Docker
// HEALTHCHECK does: distroless images have no shell or curl.
func (p Process[C, S]) healthcheck(ctx context.Context, call *Call[C]) error {
	cfg, err := call.Config()
	if err != nil {
		return err
	}
	return p.Listen.probe(ctx, p.Listen.Addr(cfg))
}

func newLogger(service string, w io.Writer) *slog.Logger {
	return telemetry.NewLogger(service, w)
}

// Closers releases what a constructor acquired, in the reverse order, once.
// New adds each resource as soon as it has it and, with a named error
// result, defers CloseOnError; the App's Close calls Close. Close may be
// called any number of times.
type Closers struct {
	mu  sync.Mutex
	fns []func()
}

// Add registers fn to run at Close.
func (c *Closers) Add(fn func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fns = append(c.fns, fn)
}

// AddCloser registers x.Close to run at Close; its error is dropped (the
// process is stopping, and nothing is waiting for the answer).
func (c *Closers) AddCloser(x io.Closer) {
	c.Add(func() { _ = x.Close() })
}

// Close runs the registered functions, the last added first, and forgets
// them.
func (c *Closers) Close() {
	c.mu.Lock()
	fns := c.fns
	c.fns = nil
	c.mu.Unlock()
	for i := len(fns) - 1; i >= 0; i-- {
		fns[i]()
	}
}

// CloseOnError runs Close when *errp is not nil: deferred by a constructor
// with a named error result, it releases what the constructor acquired
// before it failed.
func (c *Closers) CloseOnError(errp *error) {
	if *errp != nil {
		c.Close()
	}
}

// Go runs fn in a goroutine with a context that ends with ctx or when stop
// is called; stop waits until fn has returned. Serve starts its
// background loops (sweepers, settlers) with it and stops them after the
// servers have drained.
func Go(ctx context.Context, fn func(ctx context.Context)) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(ctx)
	}()
	return func() {
		cancel()
		<-done
	}
}
