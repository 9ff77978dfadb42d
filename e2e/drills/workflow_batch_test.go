//go:build drills

package drills

import (
	"bufio"
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	e2e "github.com/meterflow/meterflow/e2e/stack"
)

// TestWorkflowBatchKill SIGKILLs the workflow service in the middle of
// bursts of concurrent paid runs, while its run inserts and state changes
// are written in batches (WORKFLOW_WRITE_BATCH_MAX, ADR 0019): 32 workers
// start sync and async runs for 8 users, and the service's connection to
// Postgres is slowed a little (3 ms each way), so that a batch is in
// flight most of the time and the kills land inside batches. Afterwards
// the settler has brought every run to a final status, and the money
// invariants hold (bank.check): every account's ledger sums to its
// balance with nothing held, a succeeded run has exactly one fee row and
// a captured hold, a failed one none, the fee rows equal the captured
// runs' fees, no hold belongs to no run, and `wallet verify` passes. The
// service's batch histogram, scraped before each kill, must show batches
// of more than one run of both kinds, or the drill did not drill what it
// names.
func TestWorkflowBatchKill(t *testing.T) {
	metrics := freeAddr(t)
	s := startStack(t, options{workflowEnv: []string{"WORKFLOW_WRITE_BATCH_MAX=64", "METRICS_ADDR=" + metrics}})
	b := newBank(t, s, bankConfig{users: 8, workers: 32, duration: 20 * time.Second})
	for _, u := range b.users {
		b.fund(t, u, 1_000_000)
	}
	slow := s.toxic(t, edgeWorkflowPG, "write-batch-latency", "latency", "downstream", map[string]any{"latency": 3, "jitter": 1})
	ctx := context.Background()
	var kills int
	written := map[string][2]float64{} // kind: statements, runs
	add := func(m map[string][2]float64) {
		for k, v := range m {
			written[k] = [2]float64{written[k][0] + v[0], written[k][1] + v[1]}
		}
	}
	stopKills := killLoop(t, 2000*time.Millisecond, 500*time.Millisecond, func() *e2e.Proc { return s.workflow }, func(*e2e.Proc) {
		add(scrapeWriteBatches(metrics))
		kills++
	})
	b.runsOnly(ctx)
	stopKills()
	slow()
	add(scrapeWriteBatches(metrics))
	quiesce(t, s)
	b.check(t)
	if kills < 3 {
		t.Errorf("only %d SIGKILLs", kills)
	}
	for _, kind := range []string{"create", "apply"} {
		if w := written[kind]; w[1] <= w[0] {
			t.Errorf("the workflow service wrote %.0f runs in %.0f %s statements: no batch of more than one formed", w[1], w[0], kind)
		}
	}
	t.Logf("DRILL workflow batch kills: %s; %d SIGKILLs; batches (statements, runs) %v (scraped before each kill)", b.summary(), kills, written)
}

// scrapeWriteBatches reads the workflow service's workflow_write_batch_size
// histogram: per kind (create, apply), the batched statements and the runs
// they wrote since the process started (nothing when it does not answer).
func scrapeWriteBatches(addr string) map[string][2]float64 {
	out := map[string][2]float64{}
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + addr + "/metrics")
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		series, value, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		name, labels, _ := strings.Cut(series, "{")
		if name != "workflow_write_batch_size_count" && name != "workflow_write_batch_size_sum" {
			continue
		}
		kind := strings.TrimSuffix(strings.TrimPrefix(labels, `kind="`), `"}`)
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			continue
		}
		w := out[kind]
		if name == "workflow_write_batch_size_count" {
			w[0] = v
		} else {
			w[1] = v
		}
		out[kind] = w
	}
	return out
}
