package ratelimit

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// BenchmarkAllow measures rate-limit decisions in real Redis from 1, 8
// and 64 concurrent callers (as many HTTP requests in flight), each caller
// on its own key, as the read scenario's users are: wall time per
// decision (the callers share b.N), allocations, and this process's CPU
// time per decision (cpu-ns/op: user + system, so the syscalls that
// decisions sharing a pipeline share count; wall time on a loaded shared
// machine says little).
func BenchmarkAllow(b *testing.B) {
	for _, callers := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) {
			l, err := New(newRedis(b, ""), Options{Prefix: prefix(), RedisTimeout: 5 * time.Second})
			if err != nil {
				b.Fatal(err)
			}
			var left atomic.Int64
			left.Store(int64(b.N))
			var wg sync.WaitGroup
			b.ReportAllocs()
			cpu0 := cpuTime()
			b.ResetTimer()
			for i := range callers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					key := fmt.Sprint("user:", i)
					for left.Add(-1) >= 0 {
						if d := l.Allow(context.Background(), "api", key, 1<<30); !d.Allowed || d.Fallback {
							b.Errorf("decision %+v", d)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// cpuTime is the process's user plus system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
