package api

import (
	"context"
	"net/http"
	"strconv"
	"testing"

	"github.com/meterflow/meterflow/platform/callauth"
	"github.com/meterflow/meterflow/platform/callauth/authtest"
)

// BenchmarkAuthPath measures the per-request cost of an authenticated
// route's checks: access-token verification (with and without the
// verified-token cache) and one rate-limit decision in real Redis.
func BenchmarkAuthPath(b *testing.B) {
	for _, cached := range []bool{false, true} {
		b.Run("cache="+strconv.FormatBool(cached), func(b *testing.B) {
			bd := setup(b, setupOpts{limits: Limits{AuthPerMinute: 1 << 30, RunsPerMinute: 1 << 30, APIPerMinute: 1 << 30}})
			tok := bd.keys.test.AccessToken(b, "bench-user", false)
			tv := bd.srv.d.Tokens
			if !cached {
				var err error
				tv, err = callauth.NewCachingVerifier(callauth.AccessVerifier{Keys: bd.keys, Issuer: authtest.Issuer, Audience: authtest.Audience}, 0)
				if err != nil {
					b.Fatal(err)
				}
			}
			ctx := context.Background()
			b.ResetTimer()
			for b.Loop() {
				p, err := tv.Verify(ctx, tok)
				if err != nil {
					b.Fatal(err)
				}
				if d := bd.limiter.Allow(ctx, "api", "user:"+p.UserID, 1<<30); !d.Allowed {
					b.Fatal("limited")
				}
			}
		})
	}
}

// BenchmarkMeThroughFiber is the whole HTTP path of GET /v1/me (middleware,
// JWT check, rate limit in Redis, a stubbed identity answer, JSON) through
// Fiber's in-memory test connection.
func BenchmarkMeThroughFiber(b *testing.B) {
	bd := setup(b, setupOpts{limits: Limits{AuthPerMinute: 1 << 30, RunsPerMinute: 1 << 30, APIPerMinute: 1 << 30}})
	tok := bd.keys.test.AccessToken(b, "bench-user", false)
	b.ResetTimer()
	for b.Loop() {
		req := withToken(newReq(http.MethodGet, "/v1/me", ""), tok)
		resp, err := bd.srv.App().Test(req, -1)
		if err != nil || resp.StatusCode != 200 {
			b.Fatal(err, resp)
		}
		resp.Body.Close()
	}
}
