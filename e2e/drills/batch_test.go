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

	"github.com/google/uuid"

	e2e "github.com/meterflow/meterflow/e2e/stack"
)

// TestBatchKillDrill SIGKILLs the wallet in the middle of bursts of
// concurrent runs on a few hot accounts, where its reserves, and its
// captures and releases, are decided in batches (WALLET_RESERVE_BATCH_MAX,
// ADR 0017; WALLET_SETTLE_BATCH_MAX, ADR 0018): 32 workers start runs for
// 3 users, one of whom can pay for only some of them, while the wallet's
// connection to Postgres is slowed a little (3 ms each way), so that a
// batch is in flight most of the time and the kills land inside batches
// of either kind. (More latency makes the drill fail on the capture path:
// a capture batch still holds the account's row across its transaction's
// round trips, so at 30 ms the hot accounts' captures queue past the
// runs' deadlines.) Afterwards every account's ledger sums to its balance
// with nothing held, every run is settled with exactly one hold captured
// or released (or none), each captured hold has one fee, no hold belongs
// to no run, and `wallet verify` passes (bank.check). The wallet's batch
// histograms, scraped before each kill, must show reserve batches and
// settle batches of more than one hold, or the drill did not drill what
// it names.
func TestBatchKillDrill(t *testing.T) {
	metrics := freeAddr(t)
	s := startStack(t, options{walletEnv: []string{"WALLET_RESERVE_BATCH_MAX=64", "WALLET_SETTLE_BATCH_MAX=64", "METRICS_ADDR=" + metrics}})
	b := newBank(t, s, bankConfig{users: 3, workers: 32, duration: 20 * time.Second})
	for i, u := range b.users {
		cents := int64(1_000_000)
		if i == 0 {
			cents = 300 // 20–100 runs' fees: that account's batches refuse holds too
		}
		b.fund(t, u, cents)
	}
	slow := s.toxic(t, edgeWalletPG, "batch-latency", "latency", "downstream", map[string]any{"latency": 3, "jitter": 1})
	ctx := context.Background()
	var kills int
	var seen batchCounts
	stopKills := killLoop(t, 2000*time.Millisecond, 500*time.Millisecond, func() *e2e.Proc { return s.wallet }, func(*e2e.Proc) {
		seen = seen.add(scrapeBatches(metrics))
		kills++
	})
	b.runsOnly(ctx)
	stopKills()
	slow()
	seen = seen.add(scrapeBatches(metrics))
	quiesce(t, s)
	b.check(t)
	if kills < 3 {
		t.Errorf("only %d SIGKILLs", kills)
	}
	if seen.reserves <= seen.reserveTxs {
		t.Errorf("the wallet decided %.0f holds in %.0f transactions: no reserve batch of more than one formed", seen.reserves, seen.reserveTxs)
	}
	if seen.settles <= seen.settleTxs {
		t.Errorf("the wallet settled %.0f holds in %.0f transactions: no capture or release batch of more than one formed", seen.settles, seen.settleTxs)
	}
	t.Logf("DRILL batch kills: %s; %d SIGKILLs; %.0f reserves in %.0f transactions, %.0f captures and releases in %.0f (scraped before each kill)",
		b.summary(), kills, seen.reserves, seen.reserveTxs, seen.settles, seen.settleTxs)
}

// fund credits u with an admin adjustment recorded for bank.check.
func (b *bank) fund(t testing.TB, u *bankUser, cents int64) {
	t.Helper()
	op := &adjOp{user: u, amount: cents, reason: "drill funding " + uuid.NewString(), txIDs: map[string]bool{}, ok: true, attempts: 1}
	m := b.s.mustDo(t, 201, "POST", "/v1/admin/users/"+u.id+"/adjustments", b.admin,
		map[string]any{"amount_cents": cents, "reason": op.reason}, map[string]string{"Idempotency-Key": "fund-" + uuid.NewString()})
	op.txIDs[m["id"].(string)] = true
	b.adjs = append(b.adjs, op)
}

// batchCounts are the wallet's batch histograms: reserve transactions and
// the holds they decided, capture and release transactions and the holds
// they settled.
type batchCounts struct {
	reserveTxs, reserves, settleTxs, settles float64
}

func (a batchCounts) add(b batchCounts) batchCounts {
	return batchCounts{a.reserveTxs + b.reserveTxs, a.reserves + b.reserves, a.settleTxs + b.settleTxs, a.settles + b.settles}
}

// scrapeBatches reads the wallet's wallet_reserve_batch_size and
// wallet_settle_batch_size histograms since the process started (zeros
// when it does not answer).
func scrapeBatches(addr string) batchCounts {
	var out batchCounts
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + addr + "/metrics")
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		switch {
		case err != nil:
		case name == "wallet_reserve_batch_size_count":
			out.reserveTxs = v
		case name == "wallet_reserve_batch_size_sum":
			out.reserves = v
		case name == "wallet_settle_batch_size_count":
			out.settleTxs = v
		case name == "wallet_settle_batch_size_sum":
			out.settles = v
		}
	}
	return out
}
