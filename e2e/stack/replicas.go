package stack

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	gateway "github.com/meterflow/meterflow/gateway/app"
	workflow "github.com/meterflow/meterflow/services/workflow/app"
)

// AddWorkflowReplica starts another workflow process on the stack's
// database and wallet, as a second replica of the deployment, until the
// test ends, and returns its gRPC address.
func (s *Stack) AddWorkflowReplica(t testing.TB) string {
	t.Helper()
	ctx, stop := s.replicaContext(t)
	a, err := workflow.New(ctx, s.workflowConfig, s.logFor("workflow"))
	if err != nil {
		t.Fatal(err)
	}
	lis := listen(t)
	stop(func() error { return a.Serve(ctx, lis) }, a.Close)
	return lis.Addr().String()
}

// AddGateway starts another gateway replica until the test ends and
// returns its base URL. It shares the stack's Redis prefix (rate limits,
// API-key invalidations), as replicas of one deployment do, and calls the
// workflow service at workflowAddr ("" for the stack's own).
func (s *Stack) AddGateway(t testing.TB, workflowAddr string) string {
	t.Helper()
	cfg := s.gatewayConfig
	if workflowAddr != "" {
		cfg.WorkflowAddr = workflowAddr
	}
	ctx, stop := s.replicaContext(t)
	gw, err := gateway.New(ctx, cfg, s.logFor("gateway"))
	if err != nil {
		t.Fatal(err)
	}
	lis := listen(t)
	stop(func() error { return gw.Serve(ctx, lis) }, gw.Close)
	base := "http://" + lis.Addr().String()
	WaitReady(t, http.DefaultClient, base, 15*time.Second)
	return base
}

// replicaContext returns the context a replica runs in and a function that
// serves it until the test ends, then stops it and closes it.
func (s *Stack) replicaContext(t testing.TB) (context.Context, func(serve func() error, closeFn func())) {
	ctx, cancel := context.WithCancel(context.Background())
	return ctx, func(serve func() error, closeFn func()) {
		var wg sync.WaitGroup
		wg.Go(func() {
			if err := serve(); err != nil {
				t.Errorf("stack: a replica stopped: %v", err)
			}
		})
		t.Cleanup(func() {
			cancel()
			wg.Wait()
			closeFn()
		})
	}
}
