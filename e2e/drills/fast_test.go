package drills

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	e2e "github.com/meterflow/meterflow/e2e/stack"
)

// chaos kills and restarts the service processes and injects faults while
// a bank run goes on.
type chaos struct {
	crashes, faults int
	commitCuts      int64
}

// TestBankQuick is the fast subset in `make test`: a short bank run with
// one SIGKILL of each service process and one COMMIT cut on the wallet's
// connection to Postgres, then every invariant.
func TestBankQuick(t *testing.T) {
	s := startStack(t, options{})
	b := newBank(t, s, bankConfig{users: 4, workers: 8, duration: 5 * time.Second, refunders: 1})
	ctx := context.Background()
	var wg sync.WaitGroup
	var c chaos
	wg.Go(func() {
		time.Sleep(1500 * time.Millisecond)
		s.workflow.Kill()
		time.Sleep(300 * time.Millisecond)
		restart(t, s.workflow)
		c.crashes++
		name := "quick-" + e2e.RandomHex()
		budget(name).left.Store(1)
		remove := s.toxic(t, edgeWalletPG, "commit-cut", "commit_cut", "upstream", map[string]any{"budget": name})
		time.Sleep(time.Second)
		remove()
		c.faults++
		c.commitCuts = budget(name).cut.Load()
		time.Sleep(time.Duration(rand.IntN(500)) * time.Millisecond)
		s.wallet.Kill()
		time.Sleep(300 * time.Millisecond)
		restart(t, s.wallet)
		c.crashes++
	})
	b.run(ctx)
	wg.Wait()
	quiesce(t, s)
	b.check(t)
	t.Logf("%s; crashes %d, faults %d, commits cut %d", b.summary(), c.crashes, c.faults, c.commitCuts)
}
