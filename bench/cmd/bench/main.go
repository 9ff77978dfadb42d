// Command bench is `make bench`: it starts Meterflow as `make run` does (on
// its own ports and its own meterflow_bench_* databases), provisions users,
// wallets and workflows through the public API, runs every scenario of
// issue 7 and issue 22 beside its limit (alternating A/B/A/B in one
// invocation), with -b-commit compares this tree's paid runs with another
// commit's built and run by the same invocation, and writes
// bench/results/<date>.md and .json.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/meterflow/meterflow/bench/internal/stack"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// options are the command's flags.
type options struct {
	root          string
	out           string
	duration      time.Duration
	durations     map[string]time.Duration
	warmup        time.Duration
	rounds        int
	portOffset    int
	scenarios     map[string]bool
	note          string
	profile       bool
	profileAlways map[string]bool
	readConns     int
	runConns      int
	runRate       int
	users         int
	hotConns      int
	hotLow        int
	slowConns     int
	slowDelay     time.Duration
	loginConns    int
	growthConns   int
	growthRows    int
	smallRows     int
	growthPages   int
	bCommit       string
	dbPrefix      string
}

// allScenarios in the order they run.
var allScenarios = []string{"ceiling", "read", "run", "key", "hot", "slow", "login", "growth"}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.StringVar(&o.root, "root", "", "repository root (default: found from the working directory)")
	fs.StringVar(&o.out, "out", "", "results directory (default <root>/bench/results)")
	fs.DurationVar(&o.duration, "duration", 5*time.Second, "length of one measured phase (one side of one round)")
	per := fs.String("durations", "", "per-scenario phase lengths overriding -duration, e.g. read=10s,growth=3s")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "unrecorded warm-up of each side before the first round")
	fs.IntVar(&o.rounds, "rounds", 2, "A/B rounds per scenario")
	fs.IntVar(&o.portOffset, "port-offset", 10000, "added to the standard ports (8080, 9090, 50051-4, 9091-4, 12111) for the bench's stack")
	only := fs.String("scenarios", strings.Join(allScenarios, ","), "comma-separated subset of "+strings.Join(allScenarios, ","))
	fs.StringVar(&o.note, "note", "", "free text written into the results (e.g. what else ran on the machine)")
	fs.BoolVar(&o.profile, "profile", true, "after measuring, re-run the gateway side of each failed scenario with CPU profiles of every process")
	profAlways := fs.String("profile-scenarios", "", "comma-separated scenarios (or result keys) to profile even when they pass, e.g. run,hot")
	fs.IntVar(&o.readConns, "read-conns", 64, "read: connections")
	fs.IntVar(&o.runConns, "run-conns", 32, "run and key: connections")
	fs.IntVar(&o.runRate, "run-rate", 1000, "run, open loop: runs started per second whether or not earlier ones answered (0: skip)")
	fs.IntVar(&o.users, "users", 64, "run/read/login: distinct users")
	fs.IntVar(&o.hotConns, "hot-conns", 32, "hot wallet: callers")
	fs.IntVar(&o.hotLow, "hot-low-conns", 8, "hot wallet: the low caller count the loss is measured against")
	fs.IntVar(&o.slowConns, "slow-conns", 64, "slow workflow: callers")
	fs.DurationVar(&o.slowDelay, "slow-delay", 200*time.Millisecond, "slow workflow: the receiver's answer delay")
	fs.IntVar(&o.loginConns, "login-conns", 4, "login: callers")
	fs.IntVar(&o.growthConns, "growth-conns", 8, "growth: connections")
	fs.IntVar(&o.growthRows, "growth-rows", 1_000_000, "growth: ledger rows and runs of the large user")
	fs.IntVar(&o.smallRows, "growth-small-rows", 1_000, "growth: ledger rows and runs of the small user")
	fs.IntVar(&o.growthPages, "growth-pages", 20, "growth: list pages (limit 50) replayed per user")
	fs.StringVar(&o.dbPrefix, "db-prefix", "meterflow_bench_", "the bench's databases are <prefix><service> (and <prefix>raw; the A/B sides' <prefix>a_<service>, <prefix>b_<service>); must start with meterflow_bench_ (a second bench on the same Postgres needs its own)")
	fs.StringVar(&o.bCommit, "b-commit", "", "run scenario: also build this commit (e.g. main) as side B and compare its paid runs with this tree's, A/B/A/B, each on its own freshly started stack and databases (empty: no A/B)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	o.profileAlways = map[string]bool{}
	for s := range strings.SplitSeq(*profAlways, ",") {
		if s = strings.TrimSpace(s); s != "" {
			o.profileAlways[s] = true
		}
	}
	o.scenarios = map[string]bool{}
	for s := range strings.SplitSeq(*only, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !slices.Contains(allScenarios, s) {
			return o, fmt.Errorf("unknown scenario %q", s)
		}
		o.scenarios[s] = true
	}
	o.durations = map[string]time.Duration{}
	for kv := range strings.SplitSeq(*per, ",") {
		if kv = strings.TrimSpace(kv); kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		d, err := time.ParseDuration(v)
		if !ok || err != nil || d <= 0 || !slices.Contains(allScenarios, k) {
			return o, fmt.Errorf("-durations: %q is not scenario=duration", kv)
		}
		o.durations[k] = d
	}
	if o.duration <= 0 || o.rounds < 1 || o.warmup < 0 {
		return o, errors.New("-duration must be > 0, -rounds ≥ 1, -warmup ≥ 0")
	}
	for _, n := range []int{o.readConns, o.runConns, o.users, o.hotConns, o.hotLow, o.slowConns, o.loginConns, o.growthConns, o.growthPages} {
		if n < 1 || n > 1024 {
			return o, errors.New("connection, user and page counts must be 1–1024")
		}
	}
	if o.runRate < 0 || o.runRate > 100_000 {
		return o, errors.New("-run-rate must be 0 (skip) to 100000")
	}
	if o.hotLow >= o.hotConns {
		return o, errors.New("-hot-low-conns must be below -hot-conns")
	}
	if o.growthRows < 1 || o.smallRows < 1 || o.growthRows > 50_000_000 {
		return o, errors.New("-growth-rows must be 1–50,000,000 and -growth-small-rows ≥ 1")
	}
	if o.bCommit != "" && !o.scenarios["run"] {
		return o, errors.New("-b-commit compares the run scenario: add run to -scenarios")
	}
	if !strings.HasPrefix(o.dbPrefix, "meterflow_bench_") || strings.ContainsAny(o.dbPrefix, `"'; `) {
		return o, errors.New("-db-prefix must start with meterflow_bench_")
	}
	if o.root == "" {
		r, err := findRoot()
		if err != nil {
			return o, err
		}
		o.root = r
	}
	if o.out == "" {
		o.out = filepath.Join(o.root, "bench", "results")
	}
	return o, nil
}

// findRoot walks up from the working directory to the directory holding go.work.
func findRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.work not found above the working directory; pass -root")
		}
		dir = parent
	}
}

func addr(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

func run(ctx context.Context, args []string) error {
	o, err := parseFlags(args)
	if err != nil {
		return err
	}
	pgBase := strings.TrimRight(envOr("MF_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432"), "/")
	redisURL := envOr("REDIS_URL", "redis://127.0.0.1:6379/0")
	big := strconv.Itoa(100_000_000)
	runID := strconv.FormatInt(time.Now().Unix(), 36)
	cfg := stack.Config{
		Root:         o.root,
		StateDir:     filepath.Join(o.root, ".local", "bench"),
		PostgresBase: pgBase,
		RedisURL:     redisURL,
		HTTPAddr:     addr(8080 + o.portOffset),
		AdminAddr:    addr(9090 + o.portOffset),
		GRPCAddrs: map[string]string{
			"identity": addr(50051 + o.portOffset), "wallet": addr(50052 + o.portOffset), "workflow": addr(50053 + o.portOffset),
			"notify": addr(50054 + o.portOffset)},
		MetricsAddrs: map[string]string{
			"identity": addr(9091 + o.portOffset), "wallet": addr(9092 + o.portOffset), "workflow": addr(9093 + o.portOffset),
			"notify": addr(9094 + o.portOffset)},
		SMTPURL:        "smtp://" + addr(1025+o.portOffset),
		StripeMockPort: 12111 + o.portOffset,
		DBPrefix:       o.dbPrefix,
		ExtraEnv: []string{
			// Rate limits raised by configuration: the decision is still
			// made in Redis on every request, it just never refuses.
			"RATE_LIMIT_AUTH_PER_MINUTE=" + big,
			"RATE_LIMIT_RUNS_PER_MINUTE=" + big,
			"RATE_LIMIT_API_PER_MINUTE=" + big,
			"RATE_LIMIT_REDIS_PREFIX=meterflow:bench:" + runID + ":",
			// One access token lasts the whole bench (no refresh mid-run).
			"ACCESS_TOKEN_TTL=2h",
			// Each user is funded by one admin adjustment of fundCents,
			// over the wallet's default cap of an adjustment (1,000,000).
			"ADJUSTMENT_MAX_CENTS=" + strconv.Itoa(fundCents),
		},
	}
	if err := cfg.CheckPorts(); err != nil {
		return err
	}
	if err := stack.PingRedis(ctx, redisURL); err != nil {
		return err
	}
	b := &bench{o: o, cfg: cfg, runID: runID, rep: newReport(o), profSides: map[string]side{}}
	defer b.close()
	if o.bCommit != "" && o.scenarios["run"] {
		// Built before anything is measured: the compiler never shares the
		// CPUs with a measured phase, and a bad revision fails at once.
		b.logf("exporting %s and building its binaries (side B of the run A/B)", o.bCommit)
		b.tree, err = stack.Checkout(ctx, o.root, o.bCommit)
		if err != nil {
			return err
		}
		b.rep.Notes = append(b.rep.Notes, fmt.Sprintf("Run A/B: side B is `%s` (%s), exported with `git archive` and built with its own `make build`; the A/B rows alternate this tree and it, each on its own freshly started stack (the other side's stopped) and its own databases (%s*, %s*, migrated by each side's binaries, dropped afterwards).", o.bCommit, b.tree.Commit, cfg.DBName("a_"), cfg.DBName("b_")))
	}
	if err := b.start(ctx); err != nil {
		return err
	}
	if err := b.provision(ctx); err != nil {
		return fmt.Errorf("provision: %w", err)
	}
	b.runScenarios(ctx)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	b.finish(ctx)
	if b.tree != nil && ctx.Err() == nil {
		if err := b.runAB(ctx); err != nil {
			b.logf("run A/B failed: %v", err)
			b.rep.Notes = append(b.rep.Notes, "run A/B not measured: "+err.Error())
		}
		b.rep.LoadAfter, b.rep.Finished = stack.LoadAvg(), time.Now().UTC()
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	md, js, err := b.rep.write(o.out)
	if err != nil {
		return err
	}
	fmt.Println()
	fmt.Println(b.rep.table())
	fmt.Printf("results: %s\n         %s\n", md, js)
	return nil
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
