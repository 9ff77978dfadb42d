package workflow

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
)

// The wallet, n8n and the sealer as fakes, and bench: a Service on them.

var errUnreachable = errors.New("wallet unreachable")

// fakeWallet keeps balances and holds like the wallet service: each call
// is idempotent by key, a capture of a hold that is gone is ErrHoldGone.
type fakeWallet struct {
	mu        sync.Mutex
	available map[uuid.UUID]int64
	charged   map[uuid.UUID]int64
	holds     map[string]*fakeHold
	calls     map[string]int
	// down makes Reserve, Capture and Release fail with errUnreachable.
	down bool
	// commitDespiteDown makes a Reserve that fails with errUnreachable
	// still place its hold (its COMMIT landed after the error).
	commitDespiteDown bool
}

type fakeHold struct {
	user   uuid.UUID
	amount int64
	state  string // held, captured, released
}

func newFakeWallet() *fakeWallet {
	return &fakeWallet{available: map[uuid.UUID]int64{}, charged: map[uuid.UUID]int64{}, holds: map[string]*fakeHold{}, calls: map[string]int{}}
}

func (w *fakeWallet) setDown(down bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.down = down
}

func (w *fakeWallet) Reserve(_ context.Context, h Hold) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.calls["reserve"]++
	if w.down && !w.commitDespiteDown {
		return errUnreachable
	}
	if _, ok := w.holds[h.Key]; !ok {
		if w.available[h.UserID] < h.AmountCents {
			return ErrInsufficientFunds
		}
		w.available[h.UserID] -= h.AmountCents
		w.holds[h.Key] = &fakeHold{user: h.UserID, amount: h.AmountCents, state: "held"}
	}
	if w.down {
		return errUnreachable
	}
	return nil
}

func (w *fakeWallet) Capture(_ context.Context, key string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.calls["capture"]++
	if w.down {
		return errUnreachable
	}
	h, ok := w.holds[key]
	switch {
	case !ok || h.state == "released":
		return ErrHoldGone
	case h.state == "held":
		h.state = "captured"
		w.charged[h.user] += h.amount
	}
	return nil
}

func (w *fakeWallet) Release(_ context.Context, key string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.calls["release"]++
	if w.down {
		return errUnreachable
	}
	h, ok := w.holds[key]
	switch {
	case !ok:
	case h.state == "captured":
		return errors.New("fakeWallet: release of a captured hold")
	case h.state == "held":
		h.state = "released"
		w.available[h.user] += h.amount
	}
	return nil
}

// expire drops a hold as the wallet's own expiry does.
func (w *fakeWallet) expire(key string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if h := w.holds[key]; h != nil && h.state == "held" {
		h.state = "released"
		w.available[h.user] += h.amount
	}
}

// balance is what the user has: available plus held, i.e. not charged.
func (w *fakeWallet) balance(user uuid.UUID) (available, held, charged int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, h := range w.holds {
		if h.user == user && h.state == "held" {
			held += h.amount
		}
	}
	return w.available[user], held, w.charged[user]
}

// fakeCaller answers every request with resp and counts the requests.
type fakeCaller struct {
	mu    sync.Mutex
	resp  Response
	reqs  []Request
	onReq func(Request)
}

func (c *fakeCaller) Call(_ context.Context, r Request) Response {
	c.mu.Lock()
	c.reqs = append(c.reqs, r)
	hook, resp := c.onReq, c.resp
	c.mu.Unlock()
	if hook != nil {
		hook(r)
	}
	return resp
}

func (c *fakeCaller) calls() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.reqs)
}

// plainSealer "seals" by prefixing the context, enough to bind a value to it.
type plainSealer struct{}

func (plainSealer) Seal(p []byte, ctx string) ([]byte, error) {
	return append([]byte(ctx+"|"), p...), nil
}

func (plainSealer) Open(s []byte, ctx string) ([]byte, error) {
	if len(s) < len(ctx)+1 || string(s[:len(ctx)+1]) != ctx+"|" {
		return nil, errors.New("plainSealer: wrong context")
	}
	return s[len(ctx)+1:], nil
}

// bench is a Service on fakes with one funded user and one workflow.
type bench struct {
	svc    *Service
	store  *fakeStore
	wallet *fakeWallet
	n8n    *fakeCaller
	clock  *clock
	user   uuid.UUID
	wf     Workflow
}

const (
	testFee   = 10
	testGrace = 30 * time.Second
	testStart = 10 * time.Minute
)

func newBench(t *testing.T, funds int64) *bench {
	t.Helper()
	clk := &clock{t: time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)}
	b := &bench{
		store: newFakeStore(clk.Now), wallet: newFakeWallet(), clock: clk, user: uuid.New(),
		n8n: &fakeCaller{resp: Response{OK: true, HTTPStatus: 200, Output: []byte(`{"ok":true}`), Class: "2xx"}},
	}
	b.svc = NewService(Config{
		Store: b.store, Wallet: b.wallet, Caller: b.n8n, Secrets: plainSealer{},
		DefaultFeeCents: testFee, SettleGrace: testGrace, AsyncStartWindow: testStart, Now: clk.Now,
	})
	b.wallet.available[b.user] = funds
	wf, err := b.svc.CreateWorkflow(context.Background(), uuid.New(), NewWorkflow{Slug: "echo", Name: "Echo", WebhookURL: "https://n8n.example.com/webhook/echo"})
	if err != nil {
		t.Fatal(err)
	}
	b.wf = wf
	return b
}

// run fetches a run as the store has it.
func (b *bench) run(t *testing.T, id uuid.UUID) Run {
	t.Helper()
	r, err := b.store.GetRun(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// wantMoney checks what the user has left available, held and charged.
func (b *bench) wantMoney(t *testing.T, available, held, charged int64) {
	t.Helper()
	a, h, c := b.wallet.balance(b.user)
	if a != available || h != held || c != charged {
		t.Fatalf("wallet: available %d, held %d, charged %d; want %d, %d, %d", a, h, c, available, held, charged)
	}
}

// settleAfterDeadline moves the clock past every deadline plus the grace
// period and runs the settler once.
func (b *bench) settleAfterDeadline(t *testing.T) int {
	t.Helper()
	b.clock.Advance(time.Hour)
	n, err := b.svc.SettleOverdue(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}
