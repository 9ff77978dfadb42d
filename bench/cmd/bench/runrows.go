package main

import (
	"fmt"
	"strings"

	"github.com/meterflow/meterflow/bench/internal/load"
)

// Goals of issue 22 measured from the run scenario.
const (
	// cpuPerRunGoalMs is the CPU a paid run may cost across the processes
	// and Postgres (stretch: cpuPerRunStretchMs).
	cpuPerRunGoalMs    = 1.2
	cpuPerRunStretchMs = 1.0
	// abGoal is this tree's paid-run throughput (32 callers, closed loop)
	// over the -b-commit's, measured in the same invocation.
	abGoal = 2.5
	// loneP50Goal bounds a lone run's p50 over the -b-commit's: batching
	// must not make a single run wait for a window.
	loneP50Goal = 1.2
)

// runCPUProcs are the processes whose CPU a paid run costs: the stack and
// its database (the harness is the client and the receiver, not the system).
var runCPUProcs = []string{"gateway", "identity", "wallet", "workflow", "notify", "postgres"}

// cpuPerRun is the CPU a paid run costs in milliseconds, from the cores
// each process kept busy during a phase (1.0 = one core) and the runs
// served per second, with each process's part in runCPUProcs order.
// Postgres counts the bench databases' backends and the server's own
// processes (postgres_bench) when that was measured, else every postgres
// process. ok is false when nothing was served or no CPU was measured.
func cpuPerRun(cores map[string]float64, perSecond float64) (totalMs float64, parts []float64, ok bool) {
	if perSecond <= 0 || len(cores) == 0 {
		return 0, nil, false
	}
	parts = make([]float64, len(runCPUProcs))
	for i, p := range runCPUProcs {
		c := cores[p]
		if v, measured := cores[p+"_bench"]; measured {
			c = v
		}
		parts[i] = c / perSecond * 1000
		totalMs += parts[i]
	}
	return totalMs, parts, true
}

// cpuText renders cpuPerRun's result: "2.95 ms (gateway 0.31, …)".
func cpuText(cores map[string]float64, perSecond float64) string {
	total, parts, ok := cpuPerRun(cores, perSecond)
	if !ok {
		return "not measured"
	}
	each := make([]string, len(parts))
	for i, v := range parts {
		each[i] = runCPUProcs[i] + " " + f2(v)
	}
	return fmt.Sprintf("%s ms per run (%s)", f2(total), strings.Join(each, ", "))
}

// cpuRun is the CPU-per-run row of the run scenario's system side.
func (r *report) cpuRun(cores map[string]float64, sys load.Stats, conns int) {
	total, _, ok := cpuPerRun(cores, sys.Throughput)
	r.Rows = append(r.Rows, row{Key: "cpu-run", Scenario: fmt.Sprintf("CPU per paid run: run scenario, %d conns (gateway+identity+wallet+workflow+notify+postgres cores ÷ runs/s)", conns),
		Goal:     fmt.Sprintf("≤ %s ms (stretch %s)", f1(cpuPerRunGoalMs), f1(cpuPerRunStretchMs)),
		Measured: cpuText(cores, sys.Throughput), Limit: "—", Ratio: fmt.Sprintf("%s of the goal", pct(total/cpuPerRunGoalMs)),
		Pass: ptr(ok && total <= cpuPerRunGoalMs)})
}

// lone is the row of one caller's paid runs (no concurrency to batch).
func (r *report) lone(sys, lim load.Stats) {
	r.Rows = append(r.Rows, row{Key: "run-1", Scenario: "p50 at 1 caller: paid sync run, instant receiver",
		Goal:     "reported: a lone run waits for no batch window (before/after: the A/B row with -b-commit)",
		Measured: measured(sys, "runs/s"), Limit: measured(lim, "req/s"), Ratio: "p50 " + f2(sys.P50Ms) + " ms"})
}

// abRun is the A/B row: this tree's paid runs over the -b-commit's.
func (r *report) abRun(a, b load.Stats, conns int, short string) {
	x := ratio(a.Throughput, b.Throughput)
	r.Rows = append(r.Rows, row{Key: "run-ab", Scenario: fmt.Sprintf("run A/B: paid sync run, %d conns, this tree vs %s", conns, short),
		Goal:     fmt.Sprintf("≥ %s× %s's runs/s", f1(abGoal), short),
		Measured: measured(a, "runs/s"), Limit: measured(b, "runs/s"), Ratio: f2(x) + "×",
		Pass: ptr(x >= abGoal && a.Errors == 0)})
}

// abCPU is the A/B row of CPU per paid run (each side's 32-caller phases).
func (r *report) abCPU(aCores map[string]float64, a load.Stats, bCores map[string]float64, b load.Stats, short string) {
	ta, _, okA := cpuPerRun(aCores, a.Throughput)
	tb, _, okB := cpuPerRun(bCores, b.Throughput)
	x := "—"
	if okA && okB {
		x = f2(ratio(ta, tb)) + "×"
	}
	r.Rows = append(r.Rows, row{Key: "cpu-run-ab", Scenario: "CPU per paid run A/B: this tree vs " + short,
		Goal:     fmt.Sprintf("≤ %s ms (stretch %s)", f1(cpuPerRunGoalMs), f1(cpuPerRunStretchMs)),
		Measured: cpuText(aCores, a.Throughput), Limit: cpuText(bCores, b.Throughput), Ratio: x,
		Pass: ptr(okA && ta <= cpuPerRunGoalMs)})
}

// abLone is the A/B row of one caller's paid runs: batching's latency at
// low load, before (the -b-commit) and after (this tree).
func (r *report) abLone(a, b load.Stats, short string) {
	x := ratio(a.P50Ms, b.P50Ms)
	r.Rows = append(r.Rows, row{Key: "run-1-ab", Scenario: "p50 at 1 caller A/B: paid sync run, this tree vs " + short,
		Goal:     fmt.Sprintf("p50 ≤ %s× %s's (a lone run waits for no batch window)", f1(loneP50Goal), short),
		Measured: measured(a, "runs/s"), Limit: measured(b, "runs/s"),
		Ratio: fmt.Sprintf("p50 %s×, p99 %s×", f2(x), f2(ratio(a.P99Ms, b.P99Ms))),
		Pass:  ptr(x > 0 && x <= loneP50Goal && a.Errors == 0)})
}

// cpuOf returns the average CPU split recorded for a scenario's side.
func (r *report) cpuOf(scenario, side string) map[string]float64 {
	for _, d := range r.Details {
		if d.Scenario == scenario && d.Side == side {
			return d.CPU
		}
	}
	return nil
}
