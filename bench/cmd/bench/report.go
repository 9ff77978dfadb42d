package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/meterflow/meterflow/bench/internal/load"
)

// row is one line of the results table. Pass is nil for rows that are
// reported without a goal.
type row struct {
	Key      string `json:"key"`
	Scenario string `json:"scenario"`
	Goal     string `json:"goal"`
	Measured string `json:"measured"`
	Limit    string `json:"limit"`
	Ratio    string `json:"ratio"`
	Pass     *bool  `json:"pass"`
}

// detail is one side of one scenario, summarised over its rounds.
type detail struct {
	Scenario string             `json:"scenario"`
	Side     string             `json:"side"`
	Stats    load.Stats         `json:"stats"`
	CPU      map[string]float64 `json:"cpu_cores,omitempty"`
}

type readyRow struct {
	Process string  `json:"process"`
	Ms      float64 `json:"ms"`
}

type rssRow struct {
	Process string `json:"process"`
	KiB     int64  `json:"kib"`
}

type profileOut struct {
	Key     string `json:"key"`
	Side    string `json:"side"`
	Process string `json:"process"`
	File    string `json:"file"`
	Top     string `json:"top"`
	PG      string `json:"pg_activity,omitempty"`
}

// report is everything one invocation measured; it is written as JSON and
// rendered as markdown.
type report struct {
	Started     time.Time         `json:"started"`
	Finished    time.Time         `json:"finished"`
	Commit      string            `json:"commit"`
	Dirty       bool              `json:"worktree_dirty"`
	GoVersion   string            `json:"go_version"`
	CPUs        int               `json:"cpus"`
	CPUModel    string            `json:"cpu_model"`
	LoadBefore  string            `json:"loadavg_before"`
	LoadAfter   string            `json:"loadavg_after"`
	Note        string            `json:"note,omitempty"`
	Notes       []string          `json:"notes,omitempty"`
	Options     map[string]string `json:"options"`
	Rows        []row             `json:"rows"`
	Details     []detail          `json:"details"`
	Ready       []readyRow        `json:"start_to_ready"`
	RSSIdle     []rssRow          `json:"rss_idle"`
	RSSAfter    []rssRow          `json:"rss_idle_after_load"`
	Argon2      string            `json:"argon2"`
	Argon2Why   string            `json:"argon2_why"`
	Verify      string            `json:"wallet_verify"`
	LedgerRows  int64             `json:"growth_ledger_rows"`
	RunRows     int64             `json:"growth_run_rows"`
	SeedSeconds float64           `json:"growth_seed_seconds"`
	Profiles    []profileOut      `json:"profiles,omitempty"`
}

func newReport(o options) *report {
	r := &report{Started: time.Now().UTC(), GoVersion: runtime.Version(), CPUs: runtime.NumCPU(), Note: o.note}
	r.Options = map[string]string{
		"duration": o.duration.String(), "durations": fmt.Sprint(o.durations), "warmup": o.warmup.String(), "rounds": strconv.Itoa(o.rounds),
		"read_conns": strconv.Itoa(o.readConns), "run_conns": strconv.Itoa(o.runConns), "users": strconv.Itoa(o.users),
		"hot_conns": strconv.Itoa(o.hotConns), "hot_low_conns": strconv.Itoa(o.hotLow),
		"slow_conns": strconv.Itoa(o.slowConns), "slow_delay": o.slowDelay.String(),
		"login_conns": strconv.Itoa(o.loginConns), "growth_conns": strconv.Itoa(o.growthConns),
		"growth_rows": strconv.Itoa(o.growthRows), "growth_small_rows": strconv.Itoa(o.smallRows),
		"growth_pages": strconv.Itoa(o.growthPages), "b_commit": o.bCommit, "db_prefix": o.dbPrefix,
	}
	if out, err := exec.Command("git", "-C", o.root, "rev-parse", "--short", "HEAD").Output(); err == nil {
		r.Commit = strings.TrimSpace(string(out))
	}
	if out, err := exec.Command("git", "-C", o.root, "status", "--porcelain", "--untracked-files=no").Output(); err == nil {
		r.Dirty = len(bytes.TrimSpace(out)) > 0
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				r.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	return r
}

func (r *report) addDetail(scenario, side string, st load.Stats, cpu map[string]float64) {
	r.Details = append(r.Details, detail{Scenario: scenario, Side: side, Stats: st, CPU: cpu})
}

func ptr(b bool) *bool { return &b }

func f1(v float64) string  { return strconv.FormatFloat(v, 'f', 1, 64) }
func f2(v float64) string  { return strconv.FormatFloat(v, 'f', 2, 64) }
func pct(v float64) string { return strconv.FormatFloat(100*v, 'f', 0, 64) + "%" }

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func measured(s load.Stats, unit string) string {
	return fmt.Sprintf("%s %s, p50 %s ms, p99 %s ms, %d errors", f1(s.Throughput), unit, f2(s.P50Ms), f2(s.P99Ms), s.Errors)
}

func (r *report) ceiling(s load.Stats) {
	r.Rows = append(r.Rows, row{Key: "ceiling", Scenario: "harness ceiling (vegeta → no-op handler, same process)",
		Goal: "far above every measured rate (else the client is the bottleneck)", Measured: measured(s, "req/s"),
		Limit: "—", Ratio: "—"})
}

func (r *report) read(sys, lim load.Stats, conns int) {
	rr, pr := ratio(sys.Throughput, lim.Throughput), ratio(sys.P99Ms, lim.P99Ms)
	r.Rows = append(r.Rows, row{Key: "read", Scenario: fmt.Sprintf("read: GET /v1/wallet, %d conns", conns),
		Goal: "≥ 60% of limit rps, p99 ≤ 2× limit p99", Measured: measured(sys, "req/s"), Limit: measured(lim, "req/s"),
		Ratio: fmt.Sprintf("rps %s, p99 %s×", pct(rr), f2(pr)), Pass: ptr(rr >= 0.6 && pr <= 2 && sys.Errors == 0)})
}

// readDB is the read goal of issue 22: the gateway's read beside the
// reference pipeline whose gRPC call runs the wallet's primary-key SELECT on
// the same Postgres (the row above keeps the reference without a database).
func (r *report) readDB(sys, lim load.Stats, conns int) {
	rr, pr := ratio(sys.Throughput, lim.Throughput), ratio(sys.P99Ms, lim.P99Ms)
	r.Rows = append(r.Rows, row{Key: "read-db", Scenario: fmt.Sprintf("read: GET /v1/wallet vs a reference with the database, %d conns", conns),
		Goal: "≥ 75% of limit rps, p99 ≤ 1.5× limit p99", Measured: measured(sys, "req/s"), Limit: measured(lim, "req/s"),
		Ratio: fmt.Sprintf("rps %s, p99 %s×", pct(rr), f2(pr)), Pass: ptr(rr >= 0.75 && pr <= 1.5 && sys.Errors == 0)})
}

func (r *report) run(sys, lim load.Stats, conns int) {
	r.Rows = append(r.Rows, row{Key: "run", Scenario: fmt.Sprintf("run: paid sync run, instant receiver, %d conns, many users", conns),
		Goal: "≥ 1,000 runs/s, p99 ≤ 25 ms, zero errors", Measured: measured(sys, "runs/s"), Limit: measured(lim, "req/s"),
		Ratio: fmt.Sprintf("%s of 1,000/s; %s of limit", pct(sys.Throughput/1000), pct(ratio(sys.Throughput, lim.Throughput))),
		Pass:  ptr(sys.Throughput >= 1000 && sys.P99Ms <= 25 && sys.Errors == 0)})
}

func (r *report) runRate(sys, lim load.Stats, perSecond int) {
	r.Rows = append(r.Rows, row{Key: "run-rate", Scenario: fmt.Sprintf("run, open loop: %s paid sync runs/s offered, many users", thousands(perSecond)),
		Goal:     fmt.Sprintf("%s runs/s served, p99 ≤ 50 ms, zero errors", thousands(perSecond)),
		Measured: measured(sys, "runs/s"), Limit: measured(lim, "req/s"),
		Ratio: fmt.Sprintf("%s of the offered rate", pct(sys.Throughput/float64(perSecond))),
		Pass:  ptr(sys.Throughput >= 0.99*float64(perSecond) && sys.P99Ms <= 50 && sys.Errors == 0)})
}

// key compares a paid run made with an API key to the same run made with
// a JWT: the key may cost at most 10 % more, in throughput and in median
// latency.
func (r *report) key(jwt, key load.Stats, conns int) {
	more := ratio(jwt.Throughput, key.Throughput) - 1 // the key's cost per run over the JWT's, closed loop
	p50 := ratio(key.P50Ms, jwt.P50Ms)
	r.Rows = append(r.Rows, row{Key: "key", Scenario: fmt.Sprintf("key: paid sync run with an API key vs the same run with a JWT, %d conns", conns),
		Goal: "≤ 10% more per run (throughput and p50)", Measured: measured(key, "runs/s"), Limit: measured(jwt, "runs/s"),
		Ratio: fmt.Sprintf("%s more per run; p50 %s×, p99 %s×", pct(more), f2(p50), f2(ratio(key.P99Ms, jwt.P99Ms))),
		Pass:  ptr(more <= 0.10 && p50 <= 1.10 && key.Errors == 0 && jwt.Errors == 0)})
}

func (r *report) hot(hi, rawHi, lo, rawLo load.Stats, hiN, loN int) {
	rr := ratio(hi.Throughput, rawHi.Throughput)
	r.Rows = append(r.Rows, row{Key: "hot", Scenario: fmt.Sprintf("hot wallet: one user, %d callers", hiN),
		Goal: "≥ 100% of the raw row's tps", Measured: measured(hi, "runs/s"), Limit: measured(rawHi, "tx/s"),
		Ratio: pct(rr), Pass: ptr(rr >= 1 && hi.Errors == 0)})
	loss := 1 - ratio(hi.Throughput, lo.Throughput)
	rawLoss := 1 - ratio(rawHi.Throughput, rawLo.Throughput)
	r.Rows = append(r.Rows, row{Key: "hot-loss", Scenario: fmt.Sprintf("hot wallet: loss from %d to %d callers", loN, hiN),
		Goal: "< 15% loss", Measured: fmt.Sprintf("%s → %s runs/s (p99 %s → %s ms)", f1(lo.Throughput), f1(hi.Throughput), f2(lo.P99Ms), f2(hi.P99Ms)),
		Limit: fmt.Sprintf("raw row: %s → %s tx/s (%s)", f1(rawLo.Throughput), f1(rawHi.Throughput), lossText(rawLoss)),
		Ratio: lossText(loss), Pass: ptr(loss < 0.15 && lo.Errors == 0 && hi.Errors == 0)})
}

func lossText(loss float64) string {
	if loss < 0 {
		return "no loss (" + pct(-loss) + " more at the higher count)"
	}
	return "loss " + pct(loss)
}

func (r *report) slow(sys, lim load.Stats, conns int, delay time.Duration) {
	ideal := float64(conns) / delay.Seconds()
	rr := ratio(sys.Throughput, ideal)
	r.Rows = append(r.Rows, row{Key: "slow", Scenario: fmt.Sprintf("slow workflow: one user, receiver %v, %d callers", delay, conns),
		Goal: fmt.Sprintf("≥ 90%% of %d / %v = %s runs/s", conns, delay, f1(0.9*ideal)), Measured: measured(sys, "runs/s"),
		Limit: measured(lim, "req/s"), Ratio: fmt.Sprintf("%s of %s/s; %s of limit", pct(rr), f1(ideal), pct(ratio(sys.Throughput, lim.Throughput))),
		Pass: ptr(rr >= 0.9 && sys.Errors == 0)})
}

func (r *report) login(sys load.Stats, conns int) {
	r.Rows = append(r.Rows, row{Key: "login", Scenario: fmt.Sprintf("login: POST /v1/auth/login, %d callers", conns),
		Goal: "reported (argon2id cost)", Measured: measured(sys, "logins/s"), Limit: "—", Ratio: "—"})
}

func (r *report) growth(what string, large, small, base load.Stats, nLarge, nSmall int) {
	rr := ratio(large.P99Ms, small.P99Ms)
	r.Rows = append(r.Rows, row{Key: "growth-" + strings.ReplaceAll(what, " ", "-"),
		Scenario: fmt.Sprintf("growth: %s, %s-row user vs %s-row user", what, thousands(nLarge), thousands(nSmall)),
		Goal:     "p99 within 1.5×", Measured: measured(large, "req/s"), Limit: measured(small, "req/s"),
		Ratio: fmt.Sprintf("p99 %s× (vs before the large seed: %s×, p99 %s ms)", f2(rr), f2(ratio(large.P99Ms, base.P99Ms)), f2(base.P99Ms)),
		Pass:  ptr(rr <= 1.5 && large.Errors == 0 && small.Errors == 0)})
}

func thousands(n int) string {
	s := strconv.Itoa(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// resourceRows turns RSS and start-to-ready into table rows.
func (r *report) resourceRows() []row {
	var rows []row
	for _, x := range r.RSSIdle {
		mb := float64(x.KiB) * 1024 / 1e6
		after := ""
		for _, y := range r.RSSAfter {
			if y.Process == x.Process {
				after = fmt.Sprintf(" (after load: %s MB)", f1(float64(y.KiB)*1024/1e6))
			}
		}
		rows = append(rows, row{Key: "rss-" + x.Process, Scenario: "idle RSS: " + x.Process, Goal: "≤ 30 MB",
			Measured: f1(mb) + " MB" + after, Limit: "—", Ratio: "—", Pass: ptr(x.KiB >= 0 && mb <= 30)})
	}
	for _, x := range r.Ready {
		rw := row{Key: "ready-" + x.Process, Scenario: "start to ready: " + x.Process, Goal: "≤ 1 s after migrations",
			Measured: f1(x.Ms) + " ms", Limit: "—", Ratio: "—", Pass: ptr(x.Ms <= 1000)}
		if x.Process == "stripe-mock" {
			rw.Goal, rw.Pass = "reported (not ours)", nil
		}
		rows = append(rows, rw)
	}
	return rows
}

func passText(p *bool) string {
	switch {
	case p == nil:
		return "—"
	case *p:
		return "pass"
	default:
		return "**FAIL**"
	}
}

func esc(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

// table renders the main results table.
func (r *report) table() string {
	var b strings.Builder
	b.WriteString("| scenario | goal | measured | limit (measured beside it) | ratio | pass/fail |\n|---|---|---|---|---|---|\n")
	for _, x := range append(append([]row(nil), r.Rows...), r.resourceRows()...) {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", esc(x.Scenario), esc(x.Goal), esc(x.Measured), esc(x.Limit), esc(x.Ratio), passText(x.Pass))
	}
	return b.String()
}

func (r *report) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Meterflow benchmark, %s\n\n", r.Started.Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(&b, "`make bench` (bench/cmd/bench), commit `%s`%s, %s, %d CPUs (%s). Load average before: %s, after: %s. %s → %s.\n\n",
		r.Commit, map[bool]string{true: " with uncommitted changes", false: ""}[r.Dirty], r.GoVersion, r.CPUs, r.CPUModel,
		r.LoadBefore, r.LoadAfter, r.Started.Format("15:04:05"), r.Finished.Format("15:04:05"))
	if r.Note != "" {
		fmt.Fprintf(&b, "**Note:** %s\n\n", r.Note)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "- %s\n", n)
	}
	if len(r.Notes) > 0 {
		b.WriteString("\n")
	}
	keys := make([]string, 0, len(r.Options))
	for k := range r.Options {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b.WriteString("Options:")
	for _, k := range keys {
		fmt.Fprintf(&b, " `%s=%s`", k, r.Options[k])
	}
	b.WriteString(". Each scenario alternates its sides A/B/A/B (rounds × duration each, after an unrecorded warm-up); throughput is successful requests over the sides' total time, percentiles are exact over every request of every round, errors count anything but the expected status.\n\n")
	b.WriteString("## Results\n\n")
	b.WriteString(r.table())
	fmt.Fprintf(&b, "\nLogin cost: %s (read from a stored hash).", r.Argon2)
	if r.Argon2Why != "" {
		fmt.Fprintf(&b, " Why, from services/identity/README.md: \"%s\"", r.Argon2Why)
	}
	b.WriteString("  \n")
	fmt.Fprintf(&b, "Growth tables after seeding: %d ledger rows, %d runs (seeding took %s s).  \n", r.LedgerRows, r.RunRows, f1(r.SeedSeconds))
	fmt.Fprintf(&b, "`wallet verify` on the bench wallet database after all scenarios: %s\n\n", r.Verify)
	b.WriteString("## Every side\n\nCPU columns are cores used during the side's phases (1.0 = one core busy), from /proc/<pid>/stat; `postgres` is every postgres process on the machine (other users' included; backends that exited during a phase are not counted), `pg bench` the part of it that is not a backend of another database (the bench databases' backends and the server's own processes: what CPU per run counts), `other` is machine-wide busy cores minus all of those.\n\n")
	b.WriteString("| scenario | side | ok/s | p50 ms | p90 ms | p99 ms | max ms | errors | ok/s per round | gateway | identity | wallet | workflow | notify | postgres | pg bench | harness | other |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, d := range r.Details {
		var rounds []string
		for _, x := range d.Stats.Rounds {
			rounds = append(rounds, f1(x.Throughput))
		}
		cpu := func(k string) string {
			if d.CPU == nil {
				return ""
			}
			return f2(d.CPU[k])
		}
		other := ""
		if d.CPU != nil {
			o := d.CPU["machine_busy_cores"]
			for _, k := range []string{"gateway", "identity", "wallet", "workflow", "notify", "postgres", "harness"} {
				o -= d.CPU[k]
			}
			other = f2(max(o, 0))
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			d.Scenario, esc(d.Side), f1(d.Stats.Throughput), f2(d.Stats.P50Ms), f2(d.Stats.P90Ms), f2(d.Stats.P99Ms), f2(d.Stats.MaxMs),
			d.Stats.Errors, strings.Join(rounds, " / "), cpu("gateway"), cpu("identity"), cpu("wallet"), cpu("workflow"), cpu("notify"), cpu("postgres"), cpu("postgres_bench"), cpu("harness"), other)
	}
	var errs []string
	for _, d := range r.Details {
		if len(d.Stats.ErrorText) > 0 {
			parts := make([]string, 0, len(d.Stats.ErrorText))
			for k, v := range d.Stats.ErrorText {
				parts = append(parts, fmt.Sprintf("%d× %s", v, k))
			}
			sort.Strings(parts)
			errs = append(errs, fmt.Sprintf("- %s / %s: %s", d.Scenario, d.Side, strings.Join(parts, "; ")))
		}
	}
	if len(errs) > 0 {
		b.WriteString("\nErrors seen (samples):\n\n" + strings.Join(errs, "\n") + "\n")
	}
	if len(r.Profiles) > 0 {
		b.WriteString("\n## CPU profiles\n\nTaken after the measurements, re-running the gateway side of each failed (or `-profile-scenarios`) scenario alone for one phase while `/debug/pprof/profile` records in every process (gateway ADMIN_ADDR, services METRICS_ADDR, PPROF_ENABLED); processes that were idle are left out. After each gateway profile, what the services' Postgres connections were doing during the same phase.\n")
		for _, p := range r.Profiles {
			fmt.Fprintf(&b, "\n### %s (%s): %s\n\n`go tool pprof bin/%s %s`\n\n```\n%s\n```\n", p.Key, p.Side, p.Process, p.Process, p.File, strings.TrimSpace(p.Top))
			if p.PG != "" {
				fmt.Fprintf(&b, "\n```\n%s\n```\n", strings.TrimSpace(p.PG))
			}
		}
	}
	b.WriteString("\n## Reproduce\n\n```sh\nmake bench                      # or: go run ./bench/cmd/bench -help\nmake bench BENCH_FLAGS='-b-commit main'   # with the A/B side: main built and run beside this tree\n```\n")
	return b.String()
}

// write stores <out>/<date>.md and .json.
func (r *report) write(out string) (string, string, error) {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", "", err
	}
	base := filepath.Join(out, r.Started.Format("2006-01-02"))
	js, err := json.MarshalIndent(struct {
		*report
		Table []row `json:"table"`
	}{r, append(append([]row(nil), r.Rows...), r.resourceRows()...)}, "", "  ")
	if err != nil {
		return "", "", err
	}
	if err := os.WriteFile(base+".json", append(js, '\n'), 0o644); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(base+".md", []byte(r.markdown()), 0o644); err != nil {
		return "", "", err
	}
	return base + ".md", base + ".json", nil
}
