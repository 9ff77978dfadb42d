package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/meterflow/meterflow/bench/internal/client"
	"github.com/meterflow/meterflow/bench/internal/limits"
	"github.com/meterflow/meterflow/bench/internal/load"
	"github.com/meterflow/meterflow/bench/internal/seed"
	"github.com/meterflow/meterflow/bench/internal/stack"
)

const (
	instantSlug = "bench-instant"
	slowSlug    = "bench-slow"
	password    = "bench password 123"
	// fundCents is what each user is credited with (an admin adjustment):
	// far more than any scenario spends at 1 cent per run.
	fundCents = 10_000_000
)

// bench holds the running harness.
type bench struct {
	o     options
	cfg   stack.Config
	runID string
	rep   *report

	st    *stack.Stack
	api   *client.Client
	recv  *limits.Receiver
	ref   *limits.Reference
	hot   *limits.HotRow
	admin client.User

	users []client.User // read, run, key, login
	// apiKeys are the users' API keys (runs:write, with a monthly limit),
	// by the index of users: the key scenario.
	apiKeys    []string
	hotUser    client.User
	slowUser   client.User
	growthBig  client.User
	growthTiny client.User
	refTokens  []string // HS256 tokens of the same ids, for the reference pipeline

	// profSides maps a result row's key to the side re-run under the profiler when it fails.
	profSides map[string]side
	// tree is the -b-commit, exported and built (nil without one).
	tree *stack.Tree
}

func (b *bench) logf(format string, args ...any) {
	fmt.Printf("%s  %s\n", time.Now().UTC().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func (b *bench) close() {
	if b.st != nil {
		b.logf("stopping the stack")
		b.st.Stop()
	}
	if b.recv != nil {
		b.recv.Close()
	}
	if b.ref != nil {
		b.ref.Close()
	}
	if b.hot != nil {
		b.hot.Close()
	}
	if err := b.tree.Remove(); err != nil {
		b.logf("removing the B tree: %v", err)
	}
}

// start prepares databases and secrets, starts the stack and the harness's
// own servers, and records start-to-ready times and idle RSS.
func (b *bench) start(ctx context.Context) error {
	b.rep.LoadBefore = stack.LoadAvg()
	b.logf("load average before start: %s", b.rep.LoadBefore)
	if l1, err := strconv.ParseFloat(strings.Fields(b.rep.LoadBefore + " ?")[0], 64); err == nil && l1 > 1 {
		b.rep.Notes = append(b.rep.Notes, fmt.Sprintf("The machine was not idle before the bench started (1-minute load average %.2f on %d CPUs): other work shared the CPUs, so these numbers are noisy; the `other` CPU column shows how much.", l1, runtime.NumCPU()))
	}
	b.logf("resetting %s* databases and migrating", b.cfg.DBName(""))
	st, err := stack.Prepare(ctx, b.cfg)
	if err != nil {
		return err
	}
	b.st = st
	b.logf("starting stripe-mock, identity, wallet, workflow, gateway (logs in %s)", filepath.Join(b.cfg.StateDir, "logs"))
	if err := st.Start(ctx); err != nil {
		return err
	}
	for _, p := range st.Procs() {
		b.rep.Ready = append(b.rep.Ready, readyRow{Process: p.Name, Ms: float64(p.ReadyAfter().Microseconds()) / 1000})
		b.logf("  %-11s ready in %v", p.Name, p.ReadyAfter().Round(time.Millisecond))
	}
	// Idle: give the runtimes a moment after readiness, then read VmRSS.
	time.Sleep(2 * time.Second)
	b.rep.RSSIdle = b.rss()
	b.api = client.New("http://" + b.cfg.HTTPAddr)
	authValue := randHex(16)
	if b.recv, err = limits.StartReceiver(b.o.slowDelay, "X-Bench-Auth", authValue); err != nil {
		return err
	}
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	if b.ref, err = limits.StartReference(b.cfg.RedisURL, "meterflow:bench:"+b.runID+":ref:", secret,
		b.cfg.DatabaseURL(b.cfg.DBName("wallet"))); err != nil {
		return err
	}
	if err := b.cfg.ResetDatabases(ctx, b.cfg.DBName("raw")); err != nil {
		return err
	}
	b.hot, err = limits.OpenHotRow(ctx, b.cfg.DatabaseURL(b.cfg.DBName("raw")), max(b.o.hotConns, b.o.hotLow), 1<<50)
	return err
}

func (b *bench) rss() []rssRow {
	var rows []rssRow
	for _, name := range []string{"gateway", "identity", "wallet", "workflow", "notify"} {
		p := b.st.Proc(name)
		if p == nil {
			continue
		}
		kib, err := stack.RSSKiB(p.Pid())
		if err != nil {
			kib = -1
		}
		rows = append(rows, rssRow{Process: name, KiB: kib})
	}
	return rows
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// provision signs users up, makes the admin, creates the workflows and
// funds every wallet except the growth users' (seeded later).
func (b *bench) provision(ctx context.Context) error {
	b.logf("provisioning: %d users + hot, slow and growth users, admin, workflows", b.o.users)
	var err error
	if b.admin, err = b.createAdmin(ctx, b.o.root, b.st, "admin-"+b.runID+"@bench.meterflow.test"); err != nil {
		return err
	}
	emails := make([]string, 0, b.o.users+4)
	for i := range b.o.users {
		emails = append(emails, fmt.Sprintf("user%03d-%s@bench.meterflow.test", i, b.runID))
	}
	emails = append(emails, "hot-"+b.runID+"@bench.meterflow.test", "slow-"+b.runID+"@bench.meterflow.test",
		"growth-big-"+b.runID+"@bench.meterflow.test", "growth-small-"+b.runID+"@bench.meterflow.test")
	all := make([]client.User, len(emails))
	if err := parallel(ctx, 4, len(emails), func(ctx context.Context, i int) error {
		u, err := b.api.Signup(ctx, emails[i], password)
		all[i] = u
		return err
	}); err != nil {
		return fmt.Errorf("signup: %w", err)
	}
	b.users = all[:b.o.users]
	b.hotUser, b.slowUser, b.growthBig, b.growthTiny = all[b.o.users], all[b.o.users+1], all[b.o.users+2], all[b.o.users+3]
	for _, u := range b.users {
		tok, err := b.ref.Token(u.ID, 2*time.Hour)
		if err != nil {
			return err
		}
		b.refTokens = append(b.refTokens, tok)
	}
	for _, w := range []client.Workflow{
		{Slug: instantSlug, Name: "Bench instant", Description: "answers at once", WebhookURL: b.recv.URL + "/instant"},
		{Slug: slowSlug, Name: "Bench slow", Description: "answers after " + b.o.slowDelay.String(), WebhookURL: b.recv.URL + "/slow"},
	} {
		w.AuthHeaderName, w.AuthHeaderValue = b.recv.AuthName, b.recv.AuthValue
		w.FeeCents, w.TimeoutMS, w.Active = 1, 10_000, true
		if err := b.api.CreateWorkflow(ctx, b.admin.Access, w); err != nil {
			return fmt.Errorf("create workflow %s: %w", w.Slug, err)
		}
	}
	fund := append(append([]client.User(nil), b.users...), b.hotUser, b.slowUser)
	if err := parallel(ctx, 4, len(fund), func(ctx context.Context, i int) error {
		return b.api.Adjust(ctx, b.admin.Access, fund[i].ID, fundCents, "fund-"+fund[i].ID)
	}); err != nil {
		return fmt.Errorf("fund: %w", err)
	}
	if b.o.scenarios["key"] {
		// A limit far above what the bench spends: the reserve takes the
		// key's month row as production keys with a limit do.
		b.apiKeys = make([]string, len(b.users))
		if err := parallel(ctx, 4, len(b.users), func(ctx context.Context, i int) error {
			var err error
			b.apiKeys[i], err = b.api.CreateAPIKey(ctx, b.users[i].Access, "bench", []string{"runs:write"}, fundCents)
			return err
		}); err != nil {
			return fmt.Errorf("api keys: %w", err)
		}
	}
	b.rep.Argon2Why = argon2Why(filepath.Join(b.o.root, "services", "identity", "README.md"))
	if params, err := seed.Argon2Params(ctx, b.cfg.DatabaseURL(b.cfg.DBName("identity")), b.users[0].Email); err == nil {
		b.rep.Argon2 = params
	} else {
		b.rep.Argon2 = "could not read: " + err.Error()
	}
	return nil
}

// createAdmin makes an admin with the identity binary of the tree at root
// (`create-admin`, password on stdin) against st's database, and logs in.
func (b *bench) createAdmin(ctx context.Context, root string, st *stack.Stack, email string) (client.User, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(root, "bin", "identity"), "create-admin", "--email", email)
	cmd.Env = st.ServiceEnv("identity")
	cmd.Stdin = strings.NewReader(password + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		return client.User{}, fmt.Errorf("identity create-admin: %w: %s", err, out)
	}
	u, err := b.api.Login(ctx, email, password)
	if err != nil {
		return u, fmt.Errorf("admin login: %w", err)
	}
	return u, nil
}

// argon2Why quotes the identity README's design note on password hashing,
// so the report says why the parameters are what they are.
func argon2Why(readme string) string {
	b, err := os.ReadFile(readme)
	if err != nil {
		return ""
	}
	_, rest, ok := strings.Cut(string(b), "- **Password hashing**")
	if !ok {
		return ""
	}
	para, _, _ := strings.Cut(rest, "\n- **")
	return "Password hashing " + strings.Join(strings.Fields(para), " ")
}

// parallel runs fn(i) for i in [0, n) on at most k goroutines; the first error wins.
func parallel(ctx context.Context, k, n int, fn func(context.Context, int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	next := make(chan int)
	var wg sync.WaitGroup
	for range k {
		wg.Go(func() {
			for i := range next {
				if err := fn(ctx, i); err != nil {
					cancel(err)
				}
			}
		})
	}
	for i := 0; i < n && ctx.Err() == nil; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	return context.Cause(ctx)
}

// finish records idle RSS after load, runs `wallet verify` on the bench's
// wallet database, checks the raw limit's own ledger, and notes the load.
func (b *bench) finish(ctx context.Context) {
	time.Sleep(2 * time.Second)
	b.rep.RSSAfter = b.rss()
	cmd := exec.CommandContext(ctx, filepath.Join(b.o.root, "bin", "wallet"), "verify")
	cmd.Env = b.st.ServiceEnv("wallet")
	out, err := cmd.CombinedOutput()
	b.rep.Verify = strings.TrimSpace(lastLine(string(out)))
	if err != nil {
		b.rep.Verify = "FAILED (" + err.Error() + "): " + strings.TrimSpace(string(out))
	}
	if err := b.hot.Check(ctx, 1<<50); err != nil {
		b.rep.Verify += "; raw limit: " + err.Error()
	}
	if err := b.st.Alive(); err != nil {
		b.rep.Notes = append(b.rep.Notes, "a process died during the bench: "+err.Error())
	}
	b.rep.LoadAfter = stack.LoadAvg()
	b.rep.Finished = time.Now().UTC()
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// phaseCPU measures CPU seconds used by each process during fn.
func (b *bench) phaseCPU(fn func() load.Sample) (load.Sample, map[string]float64) {
	pids := map[string]int{}
	for _, name := range []string{"gateway", "identity", "wallet", "workflow", "notify"} {
		if p := b.st.Proc(name); p != nil {
			pids[name] = p.Pid()
		}
	}
	before := map[string]float64{}
	for n, pid := range pids {
		before[n] = stack.CPUSeconds(pid)
	}
	self := os.Getpid()
	before["harness"] = stack.CPUSeconds(self)
	prefix := b.cfg.DBName("") // the A/B sides' databases start with it too
	pgBefore, pgBenchBefore := stack.PostgresCPU(), stack.PostgresBenchCPU(prefix)
	busy0, total0 := stack.MachineCPU()
	s := fn()
	secs := s.Elapsed.Seconds()
	out := map[string]float64{}
	if secs <= 0 {
		return s, out
	}
	for n, pid := range pids {
		out[n] = (stack.CPUSeconds(pid) - before[n]) / secs
	}
	out["harness"] = (stack.CPUSeconds(self) - before["harness"]) / secs
	out["postgres"] = stack.PostgresCPUDelta(pgBefore, stack.PostgresCPU()) / secs
	out["postgres_bench"] = stack.PostgresCPUDelta(pgBenchBefore, stack.PostgresBenchCPU(prefix)) / secs
	busy1, total1 := stack.MachineCPU()
	if total1 > total0 {
		// Machine-wide busy cores (all CPUs): busy share × number of CPUs.
		out["machine_busy_cores"] = (busy1 - busy0) / (total1 - total0) * float64(numCPU())
	}
	return s, out
}
