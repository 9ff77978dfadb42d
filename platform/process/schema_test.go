package process_test

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/meterflow/meterflow/platform/process"
)

// TestVersion: every binary says which build it is, in `version` and at
// the top of `help`.
func TestVersion(t *testing.T) {
	t.Parallel()
	b := setup(t)
	if code, stdout, _ := b.run(context.Background(), "version"); code != process.ExitOK || stdout != "demo dev (commit unknown)\n" {
		t.Errorf("version: exit %d, %q", code, stdout)
	}
	if _, stdout, _ := b.run(context.Background(), "help"); !strings.Contains(stdout, "\nversion dev (commit unknown)\n") {
		t.Errorf("help does not say the version:\n%s", stdout)
	}
}

// TestDatabaseOnlyCommands: migrate and commands marked DatabaseOnly read
// DatabaseConfig, so they run where the serving secrets are absent
// (regression: `migrate` in production refused to run without
// INTERNAL_AUTH_SECRET and JWT_SIGNING_KEY_FILE); other commands still
// read the whole configuration.
func TestDatabaseOnlyCommands(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.cfgErr = errors.New("INTERNAL_AUTH_SECRET is required in production")
	b.p.DatabaseConfig = func() (testConfig, error) { return testConfig{Addr: "db-only"}, nil }
	var sawAddr string
	b.p.Commands = append(b.p.Commands, process.Command[testConfig]{
		Name: "verify", Summary: "check the database", DatabaseOnly: true,
		Run: process.NoArgs(func(ctx context.Context, call *process.Call[testConfig]) error {
			cfg, err := call.Config()
			sawAddr = cfg.Addr
			return err
		}),
	})
	if code, _, stderr := b.run(context.Background(), "migrate"); code != process.ExitOK || !b.migrated {
		t.Errorf("migrate: exit %d, migrated %t, stderr %q", code, b.migrated, stderr)
	}
	if code, _, stderr := b.run(context.Background(), "verify"); code != process.ExitOK || sawAddr != "db-only" {
		t.Errorf("verify: exit %d, config %q, stderr %q", code, sawAddr, stderr)
	}
	if code, _, stderr := b.run(context.Background(), "serve"); code != process.ExitFailure || !strings.Contains(stderr, "INTERNAL_AUTH_SECRET") {
		t.Errorf("serve without its secrets: exit %d, stderr %q", code, stderr)
	}
}

// freePort returns a loopback address nothing listens on.
func freePort(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	_ = lis.Close()
	return addr
}

// TestServeWaitsForTheSchema: a process whose database schema is older
// than the build needs does not start on it: it answers on its address
// NOT_SERVING with the reason (health check, `healthcheck`, any other
// call Unavailable), runs nothing of its own, and starts by itself once
// the schema is current.
func TestServeWaitsForTheSchema(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.cfg.Addr = freePort(t)
	const reason = "schema version 3, this build needs 4: run `demo migrate`"
	var migrated atomic.Bool
	checks := make(chan struct{}, 100)
	b.p.SchemaRecheck = 10 * time.Millisecond
	b.p.Schema = func(ctx context.Context, cfg testConfig) (string, error) {
		select {
		case checks <- struct{}{}:
		default:
		}
		if migrated.Load() {
			return "", nil
		}
		return reason, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	exited := make(chan int, 1)
	var stdout strings.Builder
	go func() {
		code := process.Run(ctx, b.p, nil, process.Stdio{Out: &lockedWriter{w: &stdout}, Err: &lockedWriter{w: &stdout}})
		exited <- code
	}()
	<-checks
	<-checks // the process is waiting: it checked twice

	conn, err := grpc.NewClient(b.cfg.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var md metadata.MD
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}, grpc.Header(&md))
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING || process.UnreadyReason(md) != reason {
		t.Fatalf("health %v %v, reason %q", resp.GetStatus(), err, process.UnreadyReason(md))
	}
	err = conn.Invoke(ctx, "/meterflow.wallet.v1.WalletService/GetBalance", &healthpb.HealthCheckRequest{}, &healthpb.HealthCheckResponse{})
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), reason) {
		t.Fatalf("a call while waiting: %v", err)
	}
	if code, _, stderr := b.run(context.Background(), "healthcheck"); code != process.ExitFailure || !strings.Contains(stderr, "NOT_SERVING: "+reason) {
		t.Fatalf("healthcheck: exit %d, stderr %q", code, stderr)
	}
	if got := b.srv.log(); got != "" {
		t.Fatalf("the process was built on the old schema: %s", got)
	}

	migrated.Store(true) // someone ran migrate
	for b.srv.log() != "new,serve" {
		select {
		case code := <-exited:
			t.Fatalf("exited %d while waiting:\n%s", code, stdout.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	// The process serves on its own address (the unready server is gone).
	c, err := net.Dial("tcp", b.cfg.Addr)
	if err != nil {
		t.Fatalf("nothing listens on %s after the start: %v", b.cfg.Addr, err)
	}
	_ = c.Close()
	cancel()
	if code := <-exited; code != process.ExitOK {
		t.Errorf("exit %d", code)
	}
	if !strings.Contains(stdout.String(), `"reason":"schema version 3, this build needs 4: run `+"`demo migrate`"+`"`) {
		t.Errorf("the log does not say why:\n%s", stdout.String())
	}
}

// TestServeStopsWhileWaitingForTheSchema: SIGTERM while waiting exits 0
// without building the process; an unreachable database at start fails.
func TestServeStopsWhileWaitingForTheSchema(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.cfg.Addr = freePort(t)
	checked := make(chan struct{})
	var once sync.Once
	b.p.Schema = func(ctx context.Context, cfg testConfig) (string, error) {
		once.Do(func() { close(checked) })
		return "schema version 1, this build needs 2: run `demo migrate`", nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-checked; cancel() }()
	if code, _, stderr := b.run(ctx); code != process.ExitOK || b.srv.log() != "" {
		t.Errorf("exit %d, lifecycle %q, stderr %q", code, b.srv.log(), stderr)
	}

	b = setup(t)
	b.p.Schema = func(context.Context, testConfig) (string, error) {
		return "", errors.New("database: cannot reach db:5432 to check its schema")
	}
	if code, _, stderr := b.run(context.Background()); code != process.ExitFailure || !strings.Contains(stderr, "cannot reach") || b.srv.log() != "" {
		t.Errorf("exit %d, lifecycle %q, stderr %q", code, b.srv.log(), stderr)
	}
}

// lockedWriter serializes writes of the process's goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
