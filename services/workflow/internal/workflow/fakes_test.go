package workflow

import (
	"context"
	"errors"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
)

// This file holds small in-memory stand-ins for the service's ports, so the
// domain's rules can be tested without a database, a wallet or n8n. The
// store guards every transition with the Change's From states exactly as
// the Postgres store's UPDATEs do (internal/postgres holds those against
// the table on a real database).

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fakeStore is an in-memory Store.
type fakeStore struct {
	now func() time.Time

	mu        sync.Mutex
	workflows map[string]Workflow
	runs      map[uuid.UUID]Run
	audit     []AuditEvent
	// jobs lists the runs whose job was queued (entering queued/held).
	jobs []uuid.UUID
	// applyErr, when set, is returned by Apply for that event instead of writing.
	applyErr map[Event]error
}

func newFakeStore(now func() time.Time) *fakeStore {
	return &fakeStore{now: now, workflows: map[string]Workflow{}, runs: map[uuid.UUID]Run{}, applyErr: map[Event]error{}}
}

func (f *fakeStore) CreateWorkflow(_ context.Context, w Workflow, ev AuditEvent) (Workflow, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.workflows[w.Slug]; ok {
		return Workflow{}, ErrSlugTaken
	}
	w.CreatedAt, w.UpdatedAt = f.now(), f.now()
	f.workflows[w.Slug] = w
	ev.CreatedAt = f.now()
	f.audit = append(f.audit, ev)
	return w, nil
}

func (f *fakeStore) UpdateWorkflow(_ context.Context, slug string, change func(Workflow) (Workflow, AuditEvent, error)) (Workflow, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	cur, ok := f.workflows[slug]
	if !ok {
		return Workflow{}, ErrWorkflowNotFound
	}
	w, ev, err := change(cur)
	if err != nil {
		return Workflow{}, err
	}
	w.UpdatedAt = f.now()
	f.workflows[slug] = w
	ev.CreatedAt = f.now()
	f.audit = append(f.audit, ev)
	return w, nil
}

func (f *fakeStore) GetWorkflow(_ context.Context, slug string) (Workflow, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	w, ok := f.workflows[slug]
	if !ok {
		return Workflow{}, ErrWorkflowNotFound
	}
	return w, nil
}

func (f *fakeStore) ListWorkflows(_ context.Context, activeOnly bool) ([]Workflow, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Workflow
	for _, w := range f.workflows {
		if w.Active || !activeOnly {
			out = append(out, w)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Slug < out[j].Slug })
	return out, nil
}

// newestFirst orders by (created_at, id) descending, as the lists do.
func newestFirst(at, bt time.Time, a, b uuid.UUID) bool {
	if !at.Equal(bt) {
		return at.After(bt)
	}
	return a.String() > b.String()
}

func (f *fakeStore) ListAuditEvents(_ context.Context, af AuditFilter) ([]AuditEvent, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []AuditEvent
	for _, e := range f.audit {
		if (af.TargetID == "" || e.TargetID == af.TargetID) &&
			(af.After.IsZero() || newestFirst(af.After.CreatedAt, e.CreatedAt, af.After.ID, e.ID)) {
			out = append(out, e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return newestFirst(out[i].CreatedAt, out[j].CreatedAt, out[i].ID, out[j].ID) })
	return out[:min(len(out), af.Limit)], nil
}

func (f *fakeStore) CreateRun(_ context.Context, r Run) (Run, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.IdempotencyKey != "" {
		for _, e := range f.runs {
			if e.UserID == r.UserID && e.IdempotencyKey == r.IdempotencyKey {
				return e, false, nil
			}
		}
	}
	r.CreatedAt = f.now()
	if r.Status == StatusRunning {
		t := f.now()
		r.StartedAt = &t
	}
	f.runs[r.ID] = r
	return r, true, nil
}

func (f *fakeStore) GetRun(_ context.Context, id uuid.UUID) (Run, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.runs[id]
	if !ok {
		return Run{}, ErrRunNotFound
	}
	return r, nil
}

func (f *fakeStore) ListRuns(_ context.Context, rf RunFilter) ([]Run, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Run
	for _, r := range f.runs {
		if (rf.UserID == uuid.Nil || r.UserID == rf.UserID) && (rf.Workflow == "" || r.Workflow == rf.Workflow) &&
			(rf.Status == "" || r.Status == rf.Status) &&
			(rf.After.IsZero() || newestFirst(rf.After.CreatedAt, r.CreatedAt, rf.After.ID, r.ID)) {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return newestFirst(out[i].CreatedAt, out[j].CreatedAt, out[i].ID, out[j].ID) })
	return out[:min(len(out), rf.Limit)], nil
}

func (f *fakeStore) ListUnsettled(_ context.Context, deadlineBefore time.Time, limit int) ([]Run, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Run
	for _, r := range f.runs {
		if Info(r.State()).Open && r.DeadlineAt.Before(deadlineBefore) {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].DeadlineAt.Before(out[j].DeadlineAt) })
	return out[:min(len(out), limit)], nil
}

func (f *fakeStore) RunStats(context.Context, time.Time, int) (RunStats, error) {
	return RunStats{}, errors.New("fakeStore: RunStats is not needed by these tests")
}

// Apply writes c as the Postgres store does: only from c.From, the target
// state and the data it carries, the fee charged only in a charged state.
func (f *fakeStore) Apply(_ context.Context, id uuid.UUID, c Change) (Run, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.applyErr[c.Event]; err != nil {
		return Run{}, err
	}
	r, ok := f.runs[id]
	if !ok || !slices.Contains(c.From, r.State()) {
		return Run{}, ErrStateChanged
	}
	now := f.now()
	r.Status, r.Hold = c.To.Status, c.To.Hold
	if c.HTTPStatus != 0 {
		r.HTTPStatus = c.HTTPStatus
	}
	if c.Output != nil {
		r.Output = c.Output
	}
	if c.Error != "" {
		r.Error = c.Error
	}
	if c.Input != nil {
		r.Input = c.Input
	}
	r.ChargedCents = 0
	if Info(c.To).Charged {
		r.ChargedCents = r.FeeCents
	}
	switch {
	case c.To == StateRefused:
		r.StartedAt = nil
	case c.To == StateRunningHeld:
		r.StartedAt = &now
	}
	if c.To.Status.Finished() && r.FinishedAt == nil {
		r.FinishedAt = &now
	}
	if c.To == StateQueuedHeld {
		f.jobs = append(f.jobs, id)
	}
	f.runs[id] = r
	return r, nil
}

// put stores r as it is (a run left in some state by a process that died).
func (f *fakeStore) put(r Run) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.runs[r.ID] = r
}

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
