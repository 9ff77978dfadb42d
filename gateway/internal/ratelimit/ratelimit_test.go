package ratelimit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func newRedis(t testing.TB, url string) *redis.Client {
	t.Helper()
	if url == "" {
		url = os.Getenv("TEST_REDIS_URL")
	}
	if url == "" {
		url = "redis://127.0.0.1:6379/0"
	}
	o, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	o.MaxRetries = 0
	o.DialerRetries = 1
	c := redis.NewClient(o)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func prefix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "test:ratelimit:" + hex.EncodeToString(b) + ":"
}

// TestSharedAcrossReplicas: two limiters (two gateway replicas) on the same
// Redis share one budget, also under concurrent requests.
func TestSharedAcrossReplicas(t *testing.T) {
	t.Parallel()
	p := prefix()
	// A generous Redis timeout: this test is about the shared budget, and
	// on a loaded machine a slow answer would hand decisions to the
	// per-replica fallback.
	a, err := New(newRedis(t, ""), Options{Prefix: p, RedisTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(newRedis(t, ""), Options{Prefix: p, RedisTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := a
			if i%2 == 1 {
				l = b
			}
			if d := l.Allow(context.Background(), "runs", "user:1", 10); d.Allowed {
				allowed.Add(1)
			} else if d.RetryAfter <= 0 || d.Remaining != 0 {
				t.Errorf("denied without retry delay: %+v", d)
			}
		}()
	}
	wg.Wait()
	if got := allowed.Load(); got != 10 {
		t.Fatalf("allowed %d of 40, want exactly 10", got)
	}
	if a.FallbackActive() || b.FallbackActive() {
		t.Fatal("fallback used with Redis up")
	}
}

func TestFallbackWhenRedisDown(t *testing.T) {
	t.Parallel()
	l, err := New(newRedis(t, "redis://127.0.0.1:1/0"), Options{Prefix: prefix()})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	allowed := 0
	for range 8 {
		d := l.Allow(context.Background(), "auth", "198.51.100.1", 5)
		if !d.Fallback {
			t.Fatal("decision not marked as fallback")
		}
		if d.Allowed {
			allowed++
		} else if d.RetryAfter <= 0 {
			t.Fatalf("denied without Retry-After: %+v", d)
		}
	}
	if allowed != 5 {
		t.Fatalf("fallback allowed %d of 8, want 5", allowed)
	}
	if !l.FallbackActive() {
		t.Fatal("FallbackActive false")
	}
	// Other keys keep their own budget.
	if d := l.Allow(context.Background(), "auth", "198.51.100.2", 5); !d.Allowed {
		t.Fatal("another key was limited")
	}
	_ = start
}

// TestAllowPerHour: a budget per hour allows its burst, then refuses for
// about an hour divided by the budget, in Redis and in the fallback alike.
func TestAllowPerHour(t *testing.T) {
	t.Parallel()
	for name, url := range map[string]string{"redis": "", "fallback": "redis://127.0.0.1:1/0"} {
		l, err := New(newRedis(t, url), Options{Prefix: prefix()})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			if d := l.AllowPer(context.Background(), "emails", "k", 3, time.Hour); !d.Allowed || d.Limit != 3 {
				t.Fatalf("%s: request %d refused: %+v", name, i, d)
			}
		}
		d := l.AllowPer(context.Background(), "emails", "k", 3, time.Hour)
		if d.Allowed || d.RetryAfter < 19*time.Minute || d.RetryAfter > 21*time.Minute {
			t.Fatalf("%s: fourth request %+v, want refused for about 20 minutes", name, d)
		}
	}
}
