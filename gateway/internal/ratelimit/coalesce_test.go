package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/go-redis/redis_rate/v10"
)

// outcome is what a decision tells the client, minus the times.
type outcome struct {
	Allowed   bool
	Remaining int
}

// TestSameDecisionsAsRedisRate: checks sent at once from many goroutines
// (so that they share pipelines) get, per key, exactly the decisions that
// redis_rate's one-by-one calls give for the same number of requests.
// Budgets refill over an hour, so time between the calls does not matter.
func TestSameDecisionsAsRedisRate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name          string
		keys, burst   int
		callsPerKey   int
		sameGoroutine bool
	}{
		{"one key, over its budget", 1, 10, 40, false},
		{"many keys, over their budgets", 16, 5, 12, false},
		{"many keys, within their budgets", 32, 50, 8, false},
		{"one by one on one goroutine", 4, 3, 6, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rdb := newRedis(t, "")
			l, err := New(rdb, Options{Prefix: prefix(), RedisTimeout: 10 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			got := make([][]outcome, tc.keys)
			var mu sync.Mutex
			var wg sync.WaitGroup
			start := make(chan struct{})
			call := func(k int) {
				d := l.AllowPer(context.Background(), "api", fmt.Sprint("user:", k), tc.burst, time.Hour)
				if d.Fallback {
					t.Error("decided by the fallback with Redis up")
				}
				if !d.Allowed && d.RetryAfter <= 0 {
					t.Errorf("denied without a retry delay: %+v", d)
				}
				if d.Limit != tc.burst || d.ResetAfter <= 0 {
					t.Errorf("limit %d, reset after %v", d.Limit, d.ResetAfter)
				}
				mu.Lock()
				got[k] = append(got[k], outcome{d.Allowed, d.Remaining})
				mu.Unlock()
			}
			for k := range tc.keys {
				for range tc.callsPerKey {
					if tc.sameGoroutine {
						call(k)
						continue
					}
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-start
						call(k)
					}()
				}
			}
			close(start)
			wg.Wait()
			if n := l.gcra.pipelined.Load(); !tc.sameGoroutine && n == 0 {
				t.Error("no check was sent in a pipeline: nothing was coalesced")
			} else {
				t.Logf("%d of %d checks sent in pipelines", n, tc.keys*tc.callsPerKey)
			}

			oracle := redis_rate.NewLimiter(rdb)
			p := prefix()
			for k := range tc.keys {
				var want []outcome
				for range tc.callsPerKey {
					res, err := oracle.Allow(context.Background(), p+fmt.Sprint(k), redis_rate.Limit{Rate: tc.burst, Burst: tc.burst, Period: time.Hour})
					if err != nil {
						t.Fatal(err)
					}
					want = append(want, outcome{res.Allowed > 0, res.Remaining})
				}
				// Concurrent callers finish in any order: compare the
				// decisions of the key as a set.
				sortOutcomes(got[k])
				sortOutcomes(want)
				if !slices.Equal(got[k], want) {
					t.Fatalf("key %d: decisions %v, one by one %v", k, got[k], want)
				}
			}
		})
	}
}

func sortOutcomes(o []outcome) {
	slices.SortFunc(o, func(a, b outcome) int {
		if a.Allowed != b.Allowed {
			if a.Allowed {
				return -1
			}
			return 1
		}
		return b.Remaining - a.Remaining
	})
}

// TestBatchAfterScriptFlush: a pipeline sent to a Redis that lost its
// script cache (a restart, SCRIPT FLUSH) still decides every check, by
// sending the refused ones again as EVAL.
func TestBatchAfterScriptFlush(t *testing.T) {
	rdb := newRedis(t, "")
	if err := rdb.ScriptFlush(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	q := &coalescer{rdb: rdb}
	p := prefix()
	var batch []*pending
	for i := range 6 {
		batch = append(batch, &pending{ctx: context.Background(), c: check{key: keyPrefix + p + fmt.Sprint(i%2), burst: 2, rate: 2, period: time.Hour}})
	}
	q.send(batch)
	want := []outcome{{true, 1}, {true, 1}, {true, 0}, {true, 0}, {false, 0}, {false, 0}}
	for i, x := range batch {
		if x.err != nil {
			t.Fatalf("check %d: %v", i, x.err)
		}
		if got := (outcome{x.res.Allowed > 0, x.res.Remaining}); got != want[i] {
			t.Fatalf("check %d: %+v, want %+v (in pipeline order)", i, got, want[i])
		}
	}
}

// TestQueuedCheckLeavesOnCancel: a check waiting behind a pipeline in
// flight returns its context's error when that ends, and leaves the queue;
// a lone check is sent at once and leaves the coalescer idle.
func TestQueuedCheckLeavesOnCancel(t *testing.T) {
	t.Parallel()
	q := &coalescer{rdb: newRedis(t, "")}
	c := check{key: keyPrefix + prefix() + "k", burst: 1, rate: 1, period: time.Hour}
	if res, err := q.allow(context.Background(), c); err != nil || res.Allowed != 1 {
		t.Fatalf("lone check: %+v, %v", res, err)
	}
	q.mu.Lock()
	if q.running || len(q.queue) != 0 {
		t.Fatal("the coalescer is not idle after a lone check")
	}
	q.running = true // a pipeline in flight that never ends
	q.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := q.allow(ctx, c); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("queued check: %v, want its deadline", err)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.queue) != 0 {
		t.Fatalf("%d checks left in the queue", len(q.queue))
	}
}

// TestConcurrentChecksWithRedisDown: checks queued behind one another when
// Redis cannot be reached each get the error and are decided by the
// fallback, which allows exactly the budget.
func TestConcurrentChecksWithRedisDown(t *testing.T) {
	t.Parallel()
	l, err := New(newRedis(t, "redis://127.0.0.1:1/0"), Options{Prefix: prefix()})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	allowed := 0
	var wg sync.WaitGroup
	for range 30 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := l.Allow(context.Background(), "auth", "198.51.100.7", 7)
			if !d.Fallback {
				t.Error("decision not marked as fallback")
			}
			if d.Allowed {
				mu.Lock()
				allowed++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if allowed != 7 {
		t.Fatalf("allowed %d of 30, want 7", allowed)
	}
}
