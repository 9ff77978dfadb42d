package drills

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// bankConfig sizes one bank run.
type bankConfig struct {
	users, workers int
	duration       time.Duration
	// refunders is how many users also get refunds (their balance may go
	// below zero through withdrawal rows).
	refunders int
}

// bankUser is one account of the bank test.
type bankUser struct {
	id, token string
	refunder  bool
}

// topUpOp is a top-up and what its webhooks answered.
type topUpOp struct {
	user      *bankUser
	id        string
	session   string
	pi        string
	amount    int64
	credited  atomic.Bool // a crediting event (completed+paid or async_payment_succeeded) answered 200
	refund    int64       // cumulative amount_refunded sent, 0 if none
	refundOK  atomic.Bool
	refundErr atomic.Bool
}

// runOp is one POST /v1/workflows/{slug}/runs and its answer.
type runOp struct {
	user    *bankUser
	slug    string
	id      string // "" when the answer carried no run
	outcome string // succeeded, failed, insufficient, queued, running, error
}

// adjOp is one admin adjustment (with its replays) and its answers.
type adjOp struct {
	user     *bankUser
	reason   string
	amount   int64
	ok       bool // some attempt answered 201
	refused  bool // some attempt answered 422 insufficient_funds
	txIDs    map[string]bool
	attempts int
}

// delivery is a webhook event waiting to be delivered later (reordering).
type delivery struct {
	payload   []byte
	crediting bool
	topUp     *topUpOp
}

// bank is the state of one bank run: the users, the client-side record of
// every operation and its answer, and the violations seen on reads.
type bank struct {
	t     testing.TB
	s     *stack
	admin string
	cfg   bankConfig
	users []*bankUser
	fees  map[string]int64

	mu         sync.Mutex
	topUps     []*topUpOp
	runs       []*runOp
	adjs       []*adjOp
	later      []delivery
	violations []string
	counts     map[string]int
	slowest    map[string]time.Duration
}

// Receivers standing in for n8n: instant, failing, slow beyond the
// workflow timeout, and flaky.
func startReceivers(t testing.TB) map[string]string {
	t.Helper()
	mk := func(h http.HandlerFunc) string {
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		return srv.URL
	}
	return map[string]string{
		"instant": mk(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"ok":true}`))
		}),
		"failing": mk(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "boom", http.StatusInternalServerError)
		}),
		"slow": mk(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-time.After(1500 * time.Millisecond):
			case <-r.Context().Done():
			}
			_, _ = w.Write([]byte(`{}`))
		}),
		"flaky": mk(func(w http.ResponseWriter, r *http.Request) {
			if rand.IntN(2) == 0 {
				http.Error(w, "flaky", http.StatusBadGateway)
				return
			}
			time.Sleep(time.Duration(rand.IntN(200)) * time.Millisecond)
			_, _ = w.Write([]byte(`{"flaky":"ok"}`))
		}),
	}
}

// newBank creates the users and the workflows.
func newBank(t testing.TB, s *stack, cfg bankConfig) *bank {
	t.Helper()
	b := &bank{t: t, s: s, cfg: cfg, admin: s.admin(t), counts: map[string]int{}, slowest: map[string]time.Duration{},
		fees: map[string]int64{"instant": 7, "failing": 5, "slow": 3, "flaky": 11}}
	recv := startReceivers(t)
	timeouts := map[string]int{"instant": 2000, "failing": 2000, "slow": 400, "flaky": 2000}
	for slug, u := range recv {
		s.mustDo(t, 201, "POST", "/v1/admin/workflows", b.admin, map[string]any{
			"slug": slug, "name": slug, "webhook_url": u + "/webhook/" + slug, "fee_cents": b.fees[slug],
			"timeout_ms": timeouts[slug], "auth_header_name": "X-Auth", "auth_header_value": "drill-secret",
		}, nil)
	}
	for i := range cfg.users {
		tok, id := s.signup(t)
		b.users = append(b.users, &bankUser{id: id, token: tok, refunder: i < cfg.refunders})
	}
	return b
}

func (b *bank) count(what string) {
	b.mu.Lock()
	b.counts[what]++
	b.mu.Unlock()
}

func (b *bank) violate(format string, args ...any) {
	b.mu.Lock()
	b.violations = append(b.violations, fmt.Sprintf(format, args...))
	b.mu.Unlock()
}

// timed records how long a route took; every answer must come within the
// route's deadline (checked in check).
func (b *bank) timed(route string, start time.Time) {
	d := time.Since(start)
	b.mu.Lock()
	if d > b.slowest[route] {
		b.slowest[route] = d
	}
	b.mu.Unlock()
}

// run drives cfg.workers workers for cfg.duration, then delivers the
// webhooks still waiting.
func (b *bank) run(ctx context.Context) {
	end := time.Now().Add(b.cfg.duration)
	var wg sync.WaitGroup
	for range b.cfg.workers {
		wg.Go(func() {
			for time.Now().Before(end) && ctx.Err() == nil {
				b.step(ctx)
			}
		})
	}
	wg.Wait()
	b.mu.Lock()
	later := b.later
	b.later = nil
	b.mu.Unlock()
	rand.Shuffle(len(later), func(i, j int) { later[i], later[j] = later[j], later[i] })
	for _, d := range later {
		b.deliver(ctx, d)
	}
}

// runsOnly is run with paid runs alone: b.cfg.workers workers start runs
// of random users for b.cfg.duration (the batch drills).
func (b *bank) runsOnly(ctx context.Context) {
	end := time.Now().Add(b.cfg.duration)
	var wg sync.WaitGroup
	for range b.cfg.workers {
		wg.Go(func() {
			for time.Now().Before(end) && ctx.Err() == nil {
				b.runOnce(ctx, b.users[rand.IntN(len(b.users))])
			}
		})
	}
	wg.Wait()
}

func (b *bank) step(ctx context.Context) {
	u := b.users[rand.IntN(len(b.users))]
	switch n := rand.IntN(100); {
	case n < 20:
		b.topUp(ctx, u)
	case n < 55:
		b.runOnce(ctx, u)
	case n < 65:
		b.adjust(ctx, u)
	case n < 70:
		b.deliverLater(ctx)
	case n < 73 && u.refunder:
		b.refund(ctx, u)
	default:
		b.read(ctx, u)
	}
}
func (b *bank) summary() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return fmt.Sprintf("ops %v; top-ups %d, runs %d, adjustments %d; slowest answers %v", b.counts, len(b.topUps), len(b.runs), len(b.adjs), b.slowest)
}
