// Package stack starts Meterflow's processes the way deploy/local/run.sh
// does (same binaries from bin/, same environment variables, stripe-mock
// beside them), but on the bench's own ports and its own databases
// (meterflow_bench_<service>), so a benchmark never touches the developer's
// data or a running `make run`. Each process is run by the product's one
// launcher, e2e/stack's Proc (ADR 0004); this package adds what only the
// bench needs: its ports, databases, secrets and measurements.
package stack

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	e2e "github.com/meterflow/meterflow/e2e/stack"
)

// Services are the gRPC services in start order (identity first: the others
// fetch its signing keys; notify before the services whose outboxes feed
// it, so that the measured runs carry their webhook events to a real
// notify, as in production, and never to a `make run` on the standard
// ports).
var Services = []string{"identity", "notify", "wallet", "workflow"}

// Config says where the stack runs.
type Config struct {
	// Root is the repository root (bin/ and services/ are under it).
	Root string
	// StateDir holds the bench's secrets and logs (under .local/, git-ignored).
	StateDir string
	// PostgresBase is MF_POSTGRES_URL's value: postgres://user@host:port, no database.
	PostgresBase string
	// RedisURL is the rate-limit store.
	RedisURL string
	// HTTPAddr and AdminAddr are the gateway's listeners.
	HTTPAddr, AdminAddr string
	// GRPCAddrs and MetricsAddrs are per service.
	GRPCAddrs, MetricsAddrs map[string]string
	// SMTPURL is notify's mail server: a closed port of the bench's own.
	SMTPURL string
	// StripeMockPort is where the bench's own stripe-mock listens (HTTP; HTTPS on +1).
	StripeMockPort int
	// StripeMockBin is its executable (empty: Root/bin/stripe-mock, built
	// there when missing).
	StripeMockBin string
	// ExtraEnv is appended to every process's environment (rate limits, token TTL).
	ExtraEnv []string
	// DBPrefix names the stack's databases, <DBPrefix><service>; it must
	// start with meterflow_bench_ (empty: meterflow_bench_). The A/B
	// comparison gives each side's stack its own (<DBPrefix>a_, …b_).
	DBPrefix string
}

// Proc is one started process; its Pid and ReadyAfter (from exec to
// readiness: gRPC health SERVING, or the gateway's /readyz answering 200)
// are what the bench reports.
type Proc = e2e.Proc

// Stack is the running set of processes.
type Stack struct {
	cfg   Config
	env   []string
	procs []*Proc
}

// benchPrefix starts every database the bench creates or drops.
const benchPrefix = "meterflow_bench_"

// DBName is the database of service svc of this stack (or of the harness's
// own, e.g. "raw"): <DBPrefix><svc>.
func (c Config) DBName(svc string) string {
	if c.DBPrefix == "" {
		return benchPrefix + svc
	}
	return c.DBPrefix + svc
}

// DBNames are the databases of the stack's services.
func (c Config) DBNames() []string {
	dbs := make([]string, 0, len(Services))
	for _, svc := range Services {
		dbs = append(dbs, c.DBName(svc))
	}
	return dbs
}

// DatabaseURL is the URL of the bench database db.
func (c Config) DatabaseURL(db string) string {
	return c.PostgresBase + "/" + db + "?sslmode=disable"
}

// CheckPorts fails with a clear message when any of the bench's ports is taken.
func (c Config) CheckPorts() error {
	addrs := []string{c.HTTPAddr, c.AdminAddr,
		net.JoinHostPort("127.0.0.1", strconv.Itoa(c.StripeMockPort)),
		net.JoinHostPort("127.0.0.1", strconv.Itoa(c.StripeMockPort+1))}
	for _, s := range Services {
		addrs = append(addrs, c.GRPCAddrs[s], c.MetricsAddrs[s])
	}
	var busy []string
	for _, a := range addrs {
		l, err := net.Listen("tcp", a)
		if err != nil {
			busy = append(busy, a)
			continue
		}
		l.Close()
	}
	if len(busy) > 0 {
		return fmt.Errorf("ports already in use: %s (another bench, or something else; change -port-offset)", strings.Join(busy, ", "))
	}
	return nil
}

// PingRedis fails with a clear message when Redis is not reachable.
func PingRedis(ctx context.Context, url string) error {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return fmt.Errorf("REDIS_URL: %w", err)
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("cannot reach Redis at %s (start it, or set REDIS_URL): %w", opt.Addr, err)
	}
	return nil
}

// ResetDatabases drops and recreates the bench databases (never anything
// not named meterflow_bench_*), so each invocation starts from empty tables.
func (c Config) ResetDatabases(ctx context.Context, names ...string) error {
	return c.dropDatabases(ctx, true, names)
}

// DropDatabases drops bench databases (never anything not named
// meterflow_bench_*): the A/B sides' when the comparison is over.
func (c Config) DropDatabases(ctx context.Context, names ...string) error {
	return c.dropDatabases(ctx, false, names)
}

func (c Config) dropDatabases(ctx context.Context, recreate bool, names []string) error {
	conn, err := pgx.Connect(ctx, c.DatabaseURL("postgres"))
	if err != nil {
		return fmt.Errorf("connect to Postgres at %s: %w", c.PostgresBase, err)
	}
	defer conn.Close(ctx)
	for _, n := range names {
		if !strings.HasPrefix(n, benchPrefix) {
			return fmt.Errorf("refusing to drop %q: not a bench database", n)
		}
		id := pgx.Identifier{n}.Sanitize()
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+id+" WITH (FORCE)"); err != nil {
			return fmt.Errorf("drop %s: %w", n, err)
		}
		if !recreate {
			continue
		}
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+id); err != nil {
			return fmt.Errorf("create %s: %w", n, err)
		}
	}
	return nil
}

func randomB64(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// Prepare writes fresh secrets (as run.sh does, but under the bench's state
// directory) and migrates the three databases with `bin/<svc> migrate`.
func Prepare(ctx context.Context, c Config) (*Stack, error) {
	if err := os.MkdirAll(filepath.Join(c.StateDir, "logs"), 0o700); err != nil {
		return nil, err
	}
	for _, b := range append([]string{"gateway"}, Services...) {
		if _, err := os.Stat(filepath.Join(c.Root, "bin", b)); err != nil {
			return nil, fmt.Errorf("bin/%s missing: run `make build` first", b)
		}
	}
	key := filepath.Join(c.StateDir, "jwt-ed25519.pem")
	_ = os.Remove(key)
	if out, err := exec.CommandContext(ctx, filepath.Join(c.Root, "bin", "identity"), "keygen", "--out", key).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("identity keygen: %w: %s", err, out)
	}
	s := &Stack{cfg: c}
	s.env = append(os.Environ(),
		"APP_ENV=development",
		"INTERNAL_AUTH_SECRET="+randomB64(48),
		"WORKFLOW_SECRETS_KEY="+randomB64(32),
		"WORKFLOW_ALLOW_PRIVATE=true", // the bench's n8n stand-in listens on loopback
		"JWT_SIGNING_KEY_FILE="+key,
		"REDIS_URL="+c.RedisURL,
		"IDENTITY_ADDR="+c.GRPCAddrs["identity"],
		"WALLET_ADDR="+c.GRPCAddrs["wallet"],
		"WORKFLOW_ADDR="+c.GRPCAddrs["workflow"],
		"NOTIFY_ADDR="+c.GRPCAddrs["notify"],
		"WEBHOOK_SECRETS_KEY="+randomB64(32),
		// No mail server: the sign-up emails are retried against a closed
		// port rather than sent to a developer's Mailpit.
		"SMTP_URL="+c.SMTPURL,
		"HTTP_ADDR="+c.HTTPAddr,
		"ADMIN_ADDR="+c.AdminAddr,
		fmt.Sprintf("STRIPE_API_BASE=http://127.0.0.1:%d", c.StripeMockPort),
	)
	s.env = append(s.env, c.ExtraEnv...)
	if !strings.HasPrefix(c.DBName(""), benchPrefix) {
		return nil, fmt.Errorf("database prefix %q does not start with %s", c.DBPrefix, benchPrefix)
	}
	if err := c.ResetDatabases(ctx, c.DBNames()...); err != nil {
		return nil, err
	}
	for _, svc := range Services {
		cmd := exec.CommandContext(ctx, filepath.Join(c.Root, "bin", svc), "migrate")
		cmd.Env = s.ServiceEnv(svc)
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("%s migrate: %w: %s", svc, err, lastLines(string(out), 10))
		}
	}
	return s, nil
}

// poolSizes are the database pools of the services off the measured money
// path, smaller than the default 16: the machine's Postgres allows 100
// connections, and the wallet's and workflow's pools (16 each), the raw
// hot row's (32) and the read reference's (16) must fit beside them.
var poolSizes = map[string]string{"identity": "8", "notify": "4"}

// ServiceEnv is the environment of service svc (or of a subcommand run
// against its database).
func (s *Stack) ServiceEnv(svc string) []string {
	env := append(append([]string(nil), s.env...),
		"DATABASE_URL="+s.cfg.DatabaseURL(s.cfg.DBName(svc)),
		"GRPC_ADDR="+s.cfg.GRPCAddrs[svc],
		"METRICS_ADDR="+s.cfg.MetricsAddrs[svc],
	)
	if n, ok := poolSizes[svc]; ok {
		env = append(env, "DATABASE_POOL_MAX_CONNS="+n)
	}
	return env
}

// Start starts stripe-mock, then each service, then the gateway, one at a
// time, timing each from exec to readiness.
func (s *Stack) Start(ctx context.Context) error {
	c := s.cfg
	mock := c.StripeMockBin
	if mock == "" {
		mock = filepath.Join(c.Root, "bin", "stripe-mock")
	}
	if _, err := os.Stat(mock); err != nil {
		build := exec.CommandContext(ctx, "go", "build", "-o", mock, "github.com/stripe/stripe-mock")
		build.Dir = filepath.Join(c.Root, "services", "wallet")
		if out, err := build.CombinedOutput(); err != nil {
			return fmt.Errorf("build stripe-mock: %w: %s", err, out)
		}
	}
	mockAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(c.StripeMockPort))
	if _, err := s.start(ctx, "stripe-mock", nil, func(ctx context.Context) bool {
		conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", mockAddr)
		if err == nil {
			conn.Close()
		}
		return err == nil
	}, mock, "-http-port", strconv.Itoa(c.StripeMockPort), "-https-port", strconv.Itoa(c.StripeMockPort+1)); err != nil {
		return err
	}
	for _, svc := range Services {
		addr := c.GRPCAddrs[svc]
		if _, err := s.start(ctx, svc, s.ServiceEnv(svc), e2e.GRPCServing(addr),
			filepath.Join(c.Root, "bin", svc), "serve"); err != nil {
			return err
		}
	}
	_, err := s.start(ctx, "gateway", s.env, e2e.HTTPReady("http://"+c.HTTPAddr+"/readyz"),
		filepath.Join(c.Root, "bin", "gateway"), "serve")
	return err
}

func (s *Stack) start(ctx context.Context, name string, env []string, ready func(context.Context) bool, bin string, args ...string) (*Proc, error) {
	if env == nil {
		env = s.env
	}
	// If the harness dies without stopping the stack, the kernel stops it.
	p := &Proc{Name: name, Bin: bin, Args: args, Env: env, Ready: ready, DieWithParent: true,
		LogPath: filepath.Join(s.cfg.StateDir, "logs", name+".log")}
	if err := p.Start(ctx); err != nil {
		if p.Pid() != 0 {
			s.procs = append(s.procs, p) // Stop ends it
		}
		return nil, err
	}
	s.procs = append(s.procs, p)
	return p, nil
}

// Procs returns the started processes in start order.
func (s *Stack) Procs() []*Proc { return s.procs }

// Proc returns the process called name, or nil.
func (s *Stack) Proc(name string) *Proc {
	for _, p := range s.procs {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// Alive reports an error naming any process that has exited.
func (s *Stack) Alive() error {
	for _, p := range s.procs {
		if p.Exited() {
			return fmt.Errorf("%s exited; see %s", p.Name, p.LogPath)
		}
	}
	return nil
}

// Stop sends SIGTERM to every process (reverse start order), waits up to
// 15 s each, then kills what is left. Start may then run the stack anew
// (same secrets, same databases).
func (s *Stack) Stop() {
	for i := len(s.procs) - 1; i >= 0; i-- {
		_ = s.procs[i].Terminate(15 * time.Second)
	}
	s.procs = nil
}

// RSSKiB reads VmRSS of a process from /proc/<pid>/status.
func RSSKiB(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			fields := strings.Fields(rest)
			if len(fields) == 0 {
				break
			}
			return strconv.ParseInt(fields[0], 10, 64)
		}
	}
	return 0, errors.New("no VmRSS line")
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
