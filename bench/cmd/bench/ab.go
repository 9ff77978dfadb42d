package main

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/meterflow/meterflow/bench/internal/client"
	"github.com/meterflow/meterflow/bench/internal/load"
	"github.com/meterflow/meterflow/bench/internal/stack"
)

// abSide is one side of the run A/B: a tree's binaries, its own databases
// and users, and what its phases measured.
type abSide struct {
	name  string // A or B
	label string // "this tree" or the commit
	root  string
	cfg   stack.Config
	st    *stack.Stack
	users []client.User

	many, lone       []load.Sample
	manyCPU, loneCPU []map[string]float64
}

// runAB compares this tree's paid runs with the -b-commit's: 32 callers
// (throughput, CPU per run) and 1 caller (latency of a lone run), rounds ×
// (A, B), each phase on that side's freshly started stack while the other
// side's is stopped. It runs after every other scenario: it stops the main
// stack, and closes the harness's own Postgres pools, so that a side's
// stack has the server's connections the main stack had.
func (b *bench) runAB(ctx context.Context) error {
	o := b.o
	b.logf("run A/B: this tree vs %s (%s): stopping the main stack", b.tree.Short, b.tree.Rev)
	b.st.Stop()
	if b.hot != nil {
		b.hot.Close()
		b.hot = nil
	}
	if b.ref != nil {
		b.ref.Close()
		b.ref = nil
	}
	sides := []*abSide{
		{name: "A", label: "this tree", root: o.root},
		{name: "B", label: b.tree.Short, root: b.tree.Root},
	}
	defer func() {
		for _, s := range sides {
			if s.st != nil {
				s.st.Stop()
			}
		}
		// Dropped also when the comparison failed or was interrupted.
		cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for _, s := range sides {
			if s.cfg.DBPrefix == "" {
				continue
			}
			if err := s.cfg.DropDatabases(cctx, s.cfg.DBNames()...); err != nil {
				b.rep.Notes = append(b.rep.Notes, fmt.Sprintf("run A/B: dropping side %s's databases: %v", s.name, err))
			}
		}
	}()
	for _, s := range sides {
		lower := strings.ToLower(s.name)
		s.cfg = b.cfg
		s.cfg.Root = s.root
		s.cfg.DBPrefix = b.cfg.DBName(lower + "_")
		s.cfg.StateDir = filepath.Join(b.cfg.StateDir, "ab-"+lower)
		// stripe-mock is not Meterflow: both sides run this tree's.
		s.cfg.StripeMockBin = filepath.Join(o.root, "bin", "stripe-mock")
		b.logf("run A/B: side %s (%s): databases %s*, migrate, start, provision", s.name, s.label, s.cfg.DBPrefix)
		st, err := stack.Prepare(ctx, s.cfg)
		if err != nil {
			return fmt.Errorf("side %s: %w", s.name, err)
		}
		s.st = st
		if err := st.Start(ctx); err != nil {
			return fmt.Errorf("side %s: start: %w", s.name, err)
		}
		err = b.provisionAB(ctx, s)
		st.Stop()
		if err != nil {
			return fmt.Errorf("side %s: provision: %w", s.name, err)
		}
	}
	d := b.phase("run")
	for r := range o.rounds {
		for _, s := range sides {
			if err := b.abTurn(ctx, s, r+1, d); err != nil {
				return fmt.Errorf("side %s, round %d: %w", s.name, r+1, err)
			}
		}
	}
	var many, lone [2]load.Stats
	var cpu [2]map[string]float64
	for i, s := range sides {
		many[i], lone[i], cpu[i] = load.Summarise(s.many), load.Summarise(s.lone), averageCPU(s.manyCPU)
		b.rep.addDetail("run-ab", fmt.Sprintf("%s: %s, %d conns", s.name, s.label, o.runConns), many[i], cpu[i])
		b.rep.addDetail("run-ab", fmt.Sprintf("%s: %s, 1 caller", s.name, s.label), lone[i], averageCPU(s.loneCPU))
	}
	b.rep.abRun(many[0], many[1], o.runConns, b.tree.Short)
	b.rep.abCPU(cpu[0], many[0], cpu[1], many[1], b.tree.Short)
	b.rep.abLone(lone[0], lone[1], b.tree.Short)
	return nil
}

// provisionAB makes side s's admin, users and instant workflow and funds
// the users, through s's running stack.
func (b *bench) provisionAB(ctx context.Context, s *abSide) error {
	tag := strings.ToLower(s.name) + "-" + b.runID
	admin, err := b.createAdmin(ctx, s.root, s.st, "admin-"+tag+"@bench.meterflow.test")
	if err != nil {
		return err
	}
	s.users = make([]client.User, b.o.users)
	if err := parallel(ctx, 4, len(s.users), func(ctx context.Context, i int) error {
		u, err := b.api.Signup(ctx, fmt.Sprintf("user%03d-%s@bench.meterflow.test", i, tag), password)
		s.users[i] = u
		return err
	}); err != nil {
		return fmt.Errorf("signup: %w", err)
	}
	w := client.Workflow{Slug: instantSlug, Name: "Bench instant", Description: "answers at once", WebhookURL: b.recv.URL + "/instant",
		AuthHeaderName: b.recv.AuthName, AuthHeaderValue: b.recv.AuthValue, FeeCents: 1, TimeoutMS: 10_000, Active: true}
	if err := b.api.CreateWorkflow(ctx, admin.Access, w); err != nil {
		return fmt.Errorf("create workflow: %w", err)
	}
	return parallel(ctx, 4, len(s.users), func(ctx context.Context, i int) error {
		return b.api.Adjust(ctx, admin.Access, s.users[i].ID, fundCents, "fund-"+s.users[i].ID)
	})
}

// abTurn is one round of one side: start its stack, warm up, measure the
// callers' phase and the lone caller's, stop the stack.
func (b *bench) abTurn(ctx context.Context, s *abSide, round int, d time.Duration) error {
	if err := s.st.Start(ctx); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	defer s.st.Stop()
	b.st = s.st // phaseCPU measures this stack's processes
	tr := b.runTargeter(instantSlug, s.users)
	ok := is(http.StatusOK)
	if b.o.warmup > 0 {
		load.HTTP(ctx, "warm-up", b.o.runConns, b.o.warmup, tr, ok)
	}
	for _, ph := range []struct {
		callers int
		samples *[]load.Sample
		cpus    *[]map[string]float64
	}{{b.o.runConns, &s.many, &s.manyCPU}, {1, &s.lone, &s.loneCPU}} {
		name := fmt.Sprintf("%s: %s, %d callers", s.name, s.label, ph.callers)
		if ph.callers == 1 {
			name = fmt.Sprintf("%s: %s, 1 caller", s.name, s.label)
		}
		smp, cpu := b.phaseCPU(func() load.Sample { return load.HTTP(ctx, name, ph.callers, d, tr, ok) })
		if ctx.Err() != nil {
			return ctx.Err()
		}
		*ph.samples, *ph.cpus = append(*ph.samples, smp), append(*ph.cpus, cpu)
		one := load.Summarise([]load.Sample{smp})
		total, _, _ := cpuPerRun(cpu, one.Throughput)
		b.logf("  run-ab   round %d  %-28s %8.1f ok/s  p50 %7.2f ms  p99 %7.2f ms  errors %d  CPU %.2f ms/run",
			round, name, one.Throughput, one.P50Ms, one.P99Ms, smp.Errors, total)
	}
	return s.st.Alive()
}
