// Package ratelimit decides whether a request may proceed: GCRA in Redis
// (one atomic script call per decision, shared by every gateway replica;
// concurrent decisions share a pipeline, coalesce.go),
// and, while Redis is unreachable, a per-process in-memory token bucket so
// the gateway keeps limiting instead of failing closed or open wide.
package ratelimit

import (
	"context"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"golang.org/x/time/rate"
)

// Decision is the outcome of one check, with what the RateLimit-* headers need.
type Decision struct {
	Allowed    bool
	Limit      int
	Remaining  int
	RetryAfter time.Duration // > 0 only when denied
	ResetAfter time.Duration // until the bucket is full again
	// Fallback is true when the in-memory limiter decided (Redis down).
	Fallback bool
}

// Options configure a Limiter.
type Options struct {
	// Prefix namespaces the Redis keys (tests use a unique one each).
	Prefix string
	// FallbackSize bounds the number of keys the in-memory limiter tracks.
	FallbackSize int
	// RedisTimeout bounds one Redis decision; past it the fallback decides.
	RedisTimeout time.Duration
	// Cooldown is how long Redis is skipped after a failure, so a dead Redis
	// does not add its timeout to every request.
	Cooldown time.Duration
	Logger   *slog.Logger
	Registry prometheus.Registerer
}

// Limiter checks per-key limits in Redis, falling back to memory.
type Limiter struct {
	rdb      redis.UniversalClient
	gcra     *coalescer
	opts     Options
	log      *slog.Logger
	fallback *lru.Cache[string, *rate.Limiter]
	fbMu     sync.Mutex

	downUntil   atomic.Int64 // unix nanos; Redis is skipped until then
	lastLog     atomic.Int64 // unix nanos of the last "Redis down" log line
	usingFB     atomic.Bool
	rejections  *prometheus.CounterVec
	fallbacks   *prometheus.CounterVec
	fallbackOn  prometheus.Gauge
	redisErrors prometheus.Counter
}

// New returns a limiter on rdb.
func New(rdb redis.UniversalClient, o Options) (*Limiter, error) {
	if o.FallbackSize <= 0 {
		o.FallbackSize = 100_000
	}
	if o.RedisTimeout <= 0 {
		o.RedisTimeout = 250 * time.Millisecond
	}
	if o.Cooldown <= 0 {
		o.Cooldown = 2 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	cache, err := lru.New[string, *rate.Limiter](o.FallbackSize)
	if err != nil {
		return nil, err
	}
	l := &Limiter{
		rdb: rdb, gcra: &coalescer{rdb: rdb}, opts: o, log: o.Logger, fallback: cache,
		rejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_ratelimit_rejections_total",
			Help: "Requests refused with 429, by rate-limit class.",
		}, []string{"class"}),
		fallbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_ratelimit_fallback_total",
			Help: "Rate-limit decisions taken by the in-memory fallback because Redis was unreachable, by class.",
		}, []string{"class"}),
		fallbackOn: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gateway_ratelimit_fallback_active",
			Help: "1 while the last rate-limit decision used the in-memory fallback (Redis unreachable).",
		}),
		redisErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gateway_ratelimit_redis_errors_total",
			Help: "Redis errors during rate-limit decisions.",
		}),
	}
	if o.Registry != nil {
		for _, c := range []prometheus.Collector{l.rejections, l.fallbacks, l.fallbackOn, l.redisErrors} {
			if err := o.Registry.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return l, nil
}

// FallbackActive reports whether the last decision was taken without Redis.
func (l *Limiter) FallbackActive() bool { return l.usingFB.Load() }

// Allow takes one request from the bucket class:key, which holds perMinute
// requests and refills at perMinute per minute.
func (l *Limiter) Allow(ctx context.Context, class, key string, perMinute int) Decision {
	return l.AllowPer(ctx, class, key, perMinute, time.Minute)
}

// AllowPer takes one request from the bucket class:key, which holds n
// requests and refills at n per period (e.g. 5 emails an hour).
func (l *Limiter) AllowPer(ctx context.Context, class, key string, n int, period time.Duration) Decision {
	if n <= 0 || period <= 0 {
		return Decision{Allowed: true, Limit: 0, Remaining: 0}
	}
	now := time.Now()
	if now.UnixNano() >= l.downUntil.Load() {
		rctx, cancel := context.WithTimeout(ctx, l.opts.RedisTimeout)
		res, err := l.gcra.allow(rctx, check{key: keyPrefix + l.opts.Prefix + class + ":" + key, burst: n, rate: n, period: period})
		cancel()
		if err == nil {
			if l.usingFB.Swap(false) {
				l.fallbackOn.Set(0)
				l.log.InfoContext(ctx, "rate limiter: Redis reachable again; back to the shared limiter")
			}
			d := Decision{
				Allowed: res.Allowed > 0, Limit: n, Remaining: res.Remaining,
				ResetAfter: max(res.ResetAfter, 0),
			}
			if !d.Allowed {
				d.RetryAfter = max(res.RetryAfter, time.Millisecond)
				l.rejections.WithLabelValues(class).Inc()
			}
			return d
		}
		if ctx.Err() != nil {
			// The client left; do not blame Redis for it.
			return Decision{Allowed: false, Limit: n, RetryAfter: time.Second}
		}
		l.redisErrors.Inc()
		l.downUntil.Store(now.Add(l.opts.Cooldown).UnixNano())
		if last := l.lastLog.Load(); now.UnixNano()-last >= int64(time.Minute) && l.lastLog.CompareAndSwap(last, now.UnixNano()) {
			l.log.WarnContext(ctx, "rate limiter: Redis unreachable; using the per-process fallback limiter", "err", err)
		}
	}
	if !l.usingFB.Swap(true) {
		l.fallbackOn.Set(1)
	}
	l.fallbacks.WithLabelValues(class).Inc()
	d := l.allowLocal(class+":"+key, n, period, now)
	if !d.Allowed {
		l.rejections.WithLabelValues(class).Inc()
	}
	return d
}

// allowLocal is the fallback: a token bucket per key holding n tokens
// and refilling at the same rate as the Redis GCRA (n per period), so a client sees the same limit per replica while Redis is down.
func (l *Limiter) allowLocal(key string, n int, period time.Duration, now time.Time) Decision {
	perSec := rate.Limit(float64(n) / period.Seconds())
	l.fbMu.Lock()
	lim, ok := l.fallback.Get(key)
	if !ok || lim.Burst() != n || lim.Limit() != perSec {
		lim = rate.NewLimiter(perSec, n)
		l.fallback.Add(key, lim)
	}
	l.fbMu.Unlock()

	d := Decision{Limit: n, Fallback: true}
	r := lim.ReserveN(now, 1)
	if delay := r.DelayFrom(now); delay > 0 {
		r.CancelAt(now)
		d.RetryAfter = delay
	} else {
		d.Allowed = true
	}
	tokens := lim.TokensAt(now)
	d.Remaining = max(int(math.Floor(tokens)), 0)
	missing := float64(n) - tokens
	d.ResetAfter = time.Duration(missing / float64(perSec) * float64(time.Second))
	return d
}

// Ping checks Redis for readiness reports.
func (l *Limiter) Ping(ctx context.Context) error {
	return l.rdb.Ping(ctx).Err()
}
