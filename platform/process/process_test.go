package process_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/meterflow/meterflow/platform/envconfig"
	"github.com/meterflow/meterflow/platform/process"
)

type testConfig struct {
	envconfig.Common
	Addr string
}

// fakeServer records what the skeleton did with it.
type fakeServer struct {
	mu     sync.Mutex
	events []string
	addr   string
}

func (s *fakeServer) record(e string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, e)
}

func (s *fakeServer) Serve(ctx context.Context, lis net.Listener) error {
	s.record("serve")
	s.addr = lis.Addr().String()
	defer lis.Close()
	<-ctx.Done()
	return nil
}

func (s *fakeServer) Close() { s.record("close") }

func (s *fakeServer) log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.events, ",")
}

// bundle is a test process and what it saw.
type bundle struct {
	p        process.Process[testConfig, *fakeServer]
	srv      *fakeServer
	cfg      testConfig
	cfgErr   error
	newErr   error
	migrated bool
}

func setup(t *testing.T) *bundle {
	t.Helper()
	b := &bundle{srv: &fakeServer{}, cfg: testConfig{Addr: "127.0.0.1:0"}}
	b.cfg.Warnings = []string{"SOME_SECRET is not set: using the development value"}
	b.p = process.Process[testConfig, *fakeServer]{
		Name:    "demo",
		Summary: "a process for tests",
		Config:  func() (testConfig, error) { return b.cfg, b.cfgErr },
		New: func(ctx context.Context, cfg testConfig, log *slog.Logger) (*fakeServer, error) {
			b.srv.record("new")
			if b.newErr != nil {
				return nil, b.newErr
			}
			return b.srv, nil
		},
		Listen: process.GRPC(func(c testConfig) string { return c.Addr }),
		Migrate: func(ctx context.Context, cfg testConfig, log *slog.Logger) error {
			b.migrated = true
			return nil
		},
		Commands: []process.Command[testConfig]{{
			Name: "greet", Args: "--name N", Summary: "print a greeting",
			Run: func(ctx context.Context, call *process.Call[testConfig]) error {
				name := call.Flags().String("name", "", "who to greet")
				if err := call.Parse(); err != nil {
					return err
				}
				if *name == "" {
					return call.Usagef("--name is required")
				}
				if *name == "nobody" {
					return errors.New("nobody to greet")
				}
				fmt.Fprintf(call.Out, "hello %s\n", *name)
				return nil
			},
		}},
	}
	return b
}

func (b *bundle) run(ctx context.Context, args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = process.Run(ctx, b.p, args, process.Stdio{Out: &out, Err: &errOut})
	return code, out.String(), errOut.String()
}

func TestServeLifecycle(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // a SIGTERM that came at once: Serve returns, the process drains and exits 0
	code, stdout, stderr := b.run(ctx)
	if code != process.ExitOK || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	if got := b.srv.log(); got != "new,serve,close" {
		t.Errorf("lifecycle %s, want new,serve,close", got)
	}
	if !strings.Contains(stdout, `"level":"WARN","msg":"SOME_SECRET is not set`) || !strings.Contains(stdout, `"service":"demo"`) {
		t.Errorf("the configuration's warning was not logged as JSON on stdout:\n%s", stdout)
	}
}

func TestServeFailures(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { busy.Close() }) // after the parallel subtests
	tests := []struct {
		name       string
		change     func(b *bundle)
		wantStderr string
		wantEvents string
	}{
		{"config", func(b *bundle) { b.cfgErr = errors.New("X must be set") }, "demo serve: config: X must be set\n", ""},
		{"new", func(b *bundle) { b.newErr = errors.New("database unreachable") }, "demo serve: database unreachable\n", "new"},
		{"listen", func(b *bundle) { b.cfg.Addr = busy.Addr().String() }, "demo serve: listen on GRPC_ADDR " + busy.Addr().String(), "new,close"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			tc.change(b)
			code, _, stderr := b.run(context.Background(), "serve")
			if code != process.ExitFailure || !strings.HasPrefix(stderr, tc.wantStderr) || strings.Count(stderr, "\n") != 1 {
				t.Errorf("exit %d, stderr %q; want 1 and one line starting %q", code, stderr, tc.wantStderr)
			}
			if got := b.srv.log(); got != tc.wantEvents {
				t.Errorf("lifecycle %q, want %q", got, tc.wantEvents)
			}
		})
	}
}

func TestDispatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args       []string
		wantCode   int
		wantStdout string // substring
		wantStderr string // the whole first line, printed once
	}{
		{[]string{"help"}, process.ExitOK, "  greet --name N\n      print a greeting\n", ""},
		{[]string{"--help"}, process.ExitOK, "commands:\n  serve\n", ""},
		{[]string{"migrate"}, process.ExitOK, `"msg":"database is up to date"`, ""},
		{[]string{"greet", "--name", "ops"}, process.ExitOK, "hello ops\n", ""},
		{[]string{"greet", "-h"}, process.ExitOK, "usage: demo greet --name N\n  -name string\n", ""},
		{[]string{"srve"}, process.ExitUsage, "", `demo: unknown command "srve"`},
		{[]string{"-x"}, process.ExitUsage, "", `demo: unknown command "-x"`},
		{[]string{"migrate", "now"}, process.ExitUsage, "", `demo migrate: takes no arguments, got "now"`},
		{[]string{"healthcheck", "--verbose"}, process.ExitUsage, "", `demo healthcheck: takes no arguments, got "--verbose"`},
		{[]string{"greet"}, process.ExitUsage, "", "demo greet: --name is required"},
		{[]string{"greet", "--bogus"}, process.ExitUsage, "", "demo greet: flag provided but not defined: -bogus"},
		{[]string{"greet", "--name", "a", "extra"}, process.ExitUsage, "", `demo greet: unexpected argument "extra"`},
		{[]string{"greet", "--name", "nobody"}, process.ExitFailure, "", "demo greet: nobody to greet"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			code, stdout, stderr := b.run(context.Background(), tc.args...)
			if code != tc.wantCode {
				t.Errorf("exit %d, want %d (stderr %q)", code, tc.wantCode, stderr)
			}
			if !strings.Contains(stdout, tc.wantStdout) {
				t.Errorf("stdout %q does not contain %q", stdout, tc.wantStdout)
			}
			first, _, _ := strings.Cut(stderr, "\n")
			if first != tc.wantStderr {
				t.Errorf("stderr starts %q, want %q", first, tc.wantStderr)
			}
			if tc.wantStderr != "" && strings.Count(stderr, tc.wantStderr) != 1 {
				t.Errorf("the error is printed %d times:\n%s", strings.Count(stderr, tc.wantStderr), stderr)
			}
			if tc.wantCode == process.ExitUsage && !strings.Contains(stderr, "usage: demo") {
				t.Errorf("a usage error without the usage:\n%s", stderr)
			}
		})
	}
}

func TestIncompleteProcessIsRefused(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.p.Listen = process.Listener[testConfig]{Var: "GRPC_ADDR", Addr: func(c testConfig) string { return c.Addr }}
	if code, _, stderr := b.run(context.Background()); code != process.ExitFailure || !strings.Contains(stderr, "wired without") || b.srv.log() != "" {
		t.Errorf("exit %d, stderr %q, lifecycle %q", code, stderr, b.srv.log())
	}
}

func TestUsageListsTheCommandTable(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.p.Migrate = nil
	_, stdout, _ := b.run(context.Background(), "help")
	var names []string
	for _, line := range strings.Split(stdout, "\n") {
		if strings.HasPrefix(line, "  ") && !strings.HasPrefix(line, "   ") {
			names = append(names, strings.Fields(line)[0])
		}
	}
	if got := strings.Join(names, " "); got != "serve greet healthcheck version help" {
		t.Errorf("commands %q, want serve greet healthcheck version help (no migrate without Migrate)", got)
	}
	if code, _, _ := b.run(context.Background(), "migrate"); code != process.ExitUsage {
		t.Errorf("migrate without Migrate: exit %d, want 2", code)
	}
}

// grpcHealth serves the standard health service on loopback and returns
// its port.
func grpcHealth(t *testing.T, status healthpb.HealthCheckResponse_ServingStatus) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	hs := health.NewServer()
	hs.SetServingStatus("", status)
	healthpb.RegisterHealthServer(srv, hs)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	_, port, _ := net.SplitHostPort(lis.Addr().String())
	return port
}

func TestHealthcheck(t *testing.T) {
	t.Parallel()
	serving := grpcHealth(t, healthpb.HealthCheckResponse_SERVING)
	notServing := grpcHealth(t, healthpb.HealthCheckResponse_NOT_SERVING)
	ready := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(ready.Close)
	unready := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(unready.Close)
	port := func(s *httptest.Server) string { _, p, _ := net.SplitHostPort(s.Listener.Addr().String()); return p }
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()

	tests := []struct {
		name   string
		http   bool
		addr   string
		wantOK bool
	}{
		{"grpc serving, wildcard address", false, ":" + serving, true},
		{"grpc serving, 0.0.0.0", false, "0.0.0.0:" + serving, true},
		{"grpc serving, [::]", false, "[::]:" + serving, true},
		{"grpc serving, loopback", false, "127.0.0.1:" + serving, true},
		{"grpc not serving", false, "127.0.0.1:" + notServing, false},
		{"grpc nothing listening", false, closedAddr, false},
		{"http ready, wildcard address", true, "0.0.0.0:" + port(ready), true},
		{"http ready, [::]", true, "[::]:" + port(ready), true},
		{"http unready", true, ":" + port(unready), false},
		{"http nothing listening", true, closedAddr, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			b.cfg.Addr = tc.addr
			if tc.http {
				b.p.Listen = process.HTTP(func(c testConfig) string { return c.Addr }, "/readyz")
			}
			code, _, stderr := b.run(context.Background(), "healthcheck")
			if (code == process.ExitOK) != tc.wantOK || (code != process.ExitOK && code != process.ExitFailure) {
				t.Errorf("exit %d (stderr %q), want ok %t", code, stderr, tc.wantOK)
			}
			if !tc.wantOK && !strings.HasPrefix(stderr, "demo healthcheck: healthcheck ") {
				t.Errorf("stderr %q", stderr)
			}
		})
	}
}

func TestDialAddr(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		":8080":          "127.0.0.1:8080",
		"0.0.0.0:8080":   "127.0.0.1:8080",
		"[::]:8080":      "127.0.0.1:8080",
		"127.0.0.1:8080": "127.0.0.1:8080",
		"10.0.0.7:50051": "10.0.0.7:50051",
		"gateway:8080":   "gateway:8080",
		"[::1]:8080":     "[::1]:8080",
	} {
		if got := process.DialAddr(in); got != want {
			t.Errorf("DialAddr(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestClosers(t *testing.T) {
	t.Parallel()
	var order []string
	var c process.Closers
	c.Add(func() { order = append(order, "pool") })
	c.AddCloser(closerFunc(func() error { order = append(order, "conn"); return errors.New("ignored") }))
	c.Close()
	c.Close() // idempotent: nothing runs twice
	if got := strings.Join(order, ","); got != "conn,pool" {
		t.Errorf("closed %s, want conn,pool (reverse order, once)", got)
	}

	newThing := func(fail bool) (_ string, err error) {
		var c process.Closers
		defer c.CloseOnError(&err)
		c.Add(func() { order = append(order, "half-built") })
		if fail {
			return "", errors.New("second step failed")
		}
		return "built", nil
	}
	order = nil
	if _, err := newThing(false); err != nil || len(order) != 0 {
		t.Errorf("a constructor that succeeded released %v", order)
	}
	if _, err := newThing(true); err == nil || strings.Join(order, ",") != "half-built" {
		t.Errorf("a constructor that failed released %v, want half-built", order)
	}
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }

func TestGoStopWaits(t *testing.T) {
	t.Parallel()
	finished := false
	stop := process.Go(context.Background(), func(ctx context.Context) {
		<-ctx.Done()
		finished = true
	})
	stop()
	if !finished {
		t.Error("stop returned before the loop did")
	}
}
