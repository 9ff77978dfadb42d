//go:build drills

package drills

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	e2e "github.com/meterflow/meterflow/e2e/stack"
)

// routeDeadline is the longest a route may take to answer in the drills:
// the gateway's call timeout (5 s) plus a margin; runs may take their
// workflow timeout (≤ 2 s) + 1 s plus the wallet calls around it.
var routeDeadline = map[string]time.Duration{
	"GET /v1/wallet":                        6 * time.Second,
	"POST /v1/wallet/topups":                6 * time.Second,
	"POST /v1/webhooks/stripe":              6 * time.Second,
	"POST /v1/admin/users/{id}/adjustments": 6 * time.Second,
	"POST /v1/workflows/{slug}/runs":        10 * time.Second,
}

func checkDeadlines(t *testing.T, b *bank) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for route, d := range b.slowest {
		if max, ok := routeDeadline[route]; ok && d > max {
			t.Errorf("%s answered after %s (deadline %s)", route, d, max)
		}
	}
}

// TestBank is the Jepsen-style bank test: 20 users, 32 workers, 60 s of
// top-ups, runs, adjustments, refunds and reads, then every invariant.
func TestBank(t *testing.T) {
	s := startStack(t, options{})
	b := newBank(t, s, bankConfig{users: 20, workers: 32, duration: 60 * time.Second, refunders: 4})
	b.run(context.Background())
	quiesce(t, s)
	b.check(t)
	checkDeadlines(t, b)
	t.Logf("DRILL bank: %s", b.summary())
}

// TestCrashDrill SIGKILLs the wallet and the workflow process at random
// moments of a bank run and starts them again; afterwards every hold is
// captured or released once, no run stays unsettled past its deadline and
// grace, and the invariants hold.
func TestCrashDrill(t *testing.T) {
	s := startStack(t, options{})
	b := newBank(t, s, bankConfig{users: 20, workers: 32, duration: 45 * time.Second, refunders: 4})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	crashes := map[string]int{}
	stopKills := killLoop(t, 2500*time.Millisecond, 900*time.Millisecond, func() *e2e.Proc {
		if rand.IntN(2) == 0 {
			return s.workflow
		}
		return s.wallet
	}, func(p *e2e.Proc) { crashes[p.Name]++ })
	b.run(ctx)
	stopKills()
	quiesce(t, s)
	b.check(t)
	t.Logf("DRILL crash: %s; SIGKILLs %v", b.summary(), crashes)
}

// fault is one kind of fault the fault drill injects on an edge.
type fault struct {
	edge, typ, stream string
	attrs             func() map[string]any
}

// TestFaultDrill injects faults on every edge during a bank run: latency,
// connection resets, black holes (timeout toxics) and COMMITs cut on the
// services' Postgres connections. Every answer must come within its route's
// deadline, errors must be problem documents, and the invariants hold.
func TestFaultDrill(t *testing.T) {
	s := startStack(t, options{})
	b := newBank(t, s, bankConfig{users: 20, workers: 32, duration: 45 * time.Second, refunders: 4})
	latency := func() map[string]any { return map[string]any{"latency": 100 + rand.IntN(400), "jitter": 50} }
	reset := func() map[string]any { return map[string]any{"timeout": rand.IntN(50)} }
	blackhole := func() map[string]any { return map[string]any{"timeout": 0} }
	var faults []fault
	for _, e := range []string{edgeWalletPG, edgeWorkflowPG, edgeWorkflowWallet, edgeGatewayWallet, edgeGatewayWF, edgeGatewayRedis} {
		faults = append(faults, fault{e, "latency", "downstream", latency}, fault{e, "reset_peer", "upstream", reset})
	}
	for _, e := range []string{edgeWalletPG, edgeWorkflowPG, edgeWorkflowWallet, edgeGatewayWallet} {
		faults = append(faults, fault{e, "timeout", "downstream", blackhole})
	}
	cutBudget := "fault-" + e2e.RandomHex()
	for _, e := range []string{edgeWalletPG, edgeWorkflowPG} {
		faults = append(faults, fault{e, "commit_cut", "upstream", func() map[string]any {
			budget(cutBudget).left.Add(int64(1 + rand.IntN(3)))
			return map[string]any{"budget": cutBudget}
		}})
	}
	injected := map[string]int{}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			case <-time.After(time.Duration(300+rand.IntN(700)) * time.Millisecond):
			}
			f := faults[rand.IntN(len(faults))]
			remove := s.toxic(t, f.edge, fmt.Sprintf("f%d", i), f.typ, f.stream, f.attrs())
			injected[f.typ+" "+f.edge]++
			time.Sleep(time.Duration(200+rand.IntN(1300)) * time.Millisecond)
			remove()
		}
	})
	b.run(context.Background())
	close(done)
	wg.Wait()
	quiesce(t, s)
	b.check(t)
	checkDeadlines(t, b)
	total := 0
	for _, n := range injected {
		total += n
	}
	t.Logf("DRILL faults: %s; %d faults injected %v; COMMITs cut %d", b.summary(), total, injected, budget(cutBudget).cut.Load())
}

// killLoop SIGKILLs the process pick returns every 1.5 s to 1.5 s + spread,
// calling before(p) just before (a count, or a scrape of the counters the
// kill loses), and restarts it 100 ms to 100 ms + down later, until the
// returned stop is called; stop waits for the loop's last restart.
func killLoop(t *testing.T, spread, down time.Duration, pick func() *e2e.Proc, before func(p *e2e.Proc)) (stop func()) {
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			case <-time.After(1500*time.Millisecond + rand.N(spread)):
			}
			p := pick()
			before(p)
			p.Kill()
			time.Sleep(100*time.Millisecond + rand.N(down))
			restart(t, p)
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}
