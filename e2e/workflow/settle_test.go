package workflow_test

import (
	"io"
	"net"
	"net/http"
	"sync"
	"testing"

	workflowv1 "github.com/meterflow/meterflow/proto/gen/meterflow/workflow/v1"
	"github.com/meterflow/meterflow/services/workflow/app"
)

// cutProxy forwards TCP to target until cut, which drops every connection
// and refuses new ones until restored: a wallet outage on demand.
type cutProxy struct {
	lis    net.Listener
	target string
	mu     sync.Mutex
	cut    bool
	conns  map[net.Conn]struct{}
}

func startCutProxy(t testing.TB, target string) *cutProxy {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{lis: lis, target: target, conns: map[net.Conn]struct{}{}}
	t.Cleanup(func() { _ = lis.Close(); p.setCut(true) })
	go p.accept()
	return p
}

func (p *cutProxy) accept() {
	for {
		c, err := p.lis.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.cut {
			p.mu.Unlock()
			_ = c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			p.mu.Unlock()
			_ = c.Close()
			continue
		}
		p.conns[c], p.conns[up] = struct{}{}, struct{}{}
		p.mu.Unlock()
		go func() { _, _ = io.Copy(up, c); _ = up.Close() }()
		go func() { _, _ = io.Copy(c, up); _ = c.Close() }()
	}
}

func (p *cutProxy) setCut(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
	if cut {
		for c := range p.conns {
			_ = c.Close()
		}
		clear(p.conns)
	}
}

// TestSuccessIsCapturedAfterWalletOutage: n8n answers 2xx but the wallet is
// unreachable at capture time. The success is recorded, the run stays
// running, and the settler captures the fee once the wallet is back.
func TestSuccessIsCapturedAfterWalletOutage(t *testing.T) {
	t.Parallel()
	var px *cutProxy
	h := setup(t, func(c *app.Config) {
		px = startCutProxy(t, c.WalletAddr)
		c.WalletAddr = px.lis.Addr().String()
	})
	rcv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		px.setCut(true)
		answerJSON(w, r)
	})
	h.createWorkflow(t, "flaky-wallet", rcv.URL, wfOpts{fee: 10, timeoutMS: 500})
	userID, ctx := h.user(t)
	h.fund(t, userID, 100)

	run, err := startRun(ctx, h, "flaky-wallet", `{"n":1}`, "", false)
	if err != nil {
		t.Fatalf("StartRun: %v", err)
	}
	if run.GetStatus() != "running" || run.GetChargedCents() != 0 || run.GetHttpStatus() != 200 {
		t.Fatalf("run during the outage = %v, want running (capture pending)", run)
	}
	if w := h.walletOf(t, ctx); w.GetHeldCents() != 10 {
		t.Fatalf("wallet during the outage = %v, want 10 held", w)
	}
	px.setCut(false)
	done := waitRun(t, ctx, h, run.GetId(), func(r *workflowv1.Run) bool { return r.GetStatus() == "succeeded" })
	if done.GetChargedCents() != 10 || !jsonEqual(done.GetOutputJson(), `{"echo":{"n":1}}`) {
		t.Fatalf("settled run = %v", done)
	}
	if w := h.walletOf(t, ctx); w.GetBalanceCents() != 90 || w.GetHeldCents() != 0 {
		t.Fatalf("wallet = %v, want 90", w)
	}
	if rows := h.feeRows(t, ctx); len(rows) != 1 {
		t.Fatalf("fee rows = %d, want 1", len(rows))
	}
	if n, err := h.app.SettleOverdue(ctx); err != nil || n != 0 {
		t.Fatalf("second settler pass settled %d (%v), want 0", n, err)
	}
	if rcv.hits.Load() != 1 {
		t.Fatalf("n8n called %d times", rcv.hits.Load())
	}
	h.checkLedger(t)
}
