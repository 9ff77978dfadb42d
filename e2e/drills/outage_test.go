//go:build drills

package drills

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// gauge reads a gauge without labels from a registry (-1 when absent).
func gauge(t testing.TB, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) > 0 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	return -1
}

// timedDo sends a request and fails the test when it takes longer than within.
func timedDo(t testing.TB, s *stack, within time.Duration, method, path, token string, body any, headers map[string]string) response {
	t.Helper()
	start := time.Now()
	r := s.do(context.Background(), method, path, token, body, headers)
	if d := time.Since(start); d > within {
		t.Errorf("%s %s took %s (deadline %s): %d %s", method, path, d, within, r.status, r.body)
	}
	return r
}

func wantProblem(t testing.TB, r response, status int) {
	t.Helper()
	if r.err != nil || r.status != status || !isProblem(r) {
		t.Errorf("want a %d problem document, got %d %v %s", status, r.status, r.err, r.body)
	}
}

// eventually retries f until it reports true or within passes.
func eventually(t testing.TB, within time.Duration, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestOutages: Redis stopped (fallback limiter, /readyz degraded, metric),
// Postgres "restarted" under the services (they recover without a restart
// and no request hangs), a service down or black-holed (503 quickly).
func TestOutages(t *testing.T) {
	s := startStack(t, options{callTimeout: 2 * time.Second})
	admin := s.admin(t)
	tok, uid := s.signup(t)
	s.mustDo(t, 201, "POST", "/v1/admin/users/"+uid+"/adjustments", admin, map[string]any{"amount_cents": 1000, "reason": "outage drill"}, map[string]string{"Idempotency-Key": "outage-drill-funding"})
	recv := startReceivers(t)
	s.mustDo(t, 201, "POST", "/v1/admin/workflows", admin, map[string]any{
		"slug": "instant", "name": "instant", "webhook_url": recv["instant"], "fee_cents": 1, "timeout_ms": 1000}, nil)
	run := func() response {
		return timedDo(t, s, 4*time.Second, "POST", "/v1/workflows/instant/runs", tok, map[string]any{"input": map[string]any{}}, nil)
	}
	paid := 0

	t.Run("redis down", func(t *testing.T) {
		restore := s.cut(t, edgeGatewayRedis)
		for range 3 {
			if r := run(); r.status != 200 {
				t.Fatalf("run with Redis down: %d %s", r.status, r.body)
			}
			paid++
		}
		if !s.gateway.FallbackActive() || gauge(t, s.gateway.Registry, "gateway_ratelimit_fallback_active") != 1 {
			t.Errorf("fallback active %v, gauge %v", s.gateway.FallbackActive(), gauge(t, s.gateway.Registry, "gateway_ratelimit_fallback_active"))
		}
		r := timedDo(t, s, 2*time.Second, "GET", "/readyz", "", nil, nil)
		if r.status != 200 || r.json()["status"] != "degraded" {
			t.Errorf("/readyz with Redis down: %d %s", r.status, r.body)
		}
		if code, m := s.readyDetail(t); code != 200 || m["dependencies"].(map[string]any)["redis"].(map[string]any)["status"] != "down" {
			t.Errorf("the readiness detail with Redis down: %d %v", code, m)
		}
		restore()
		eventually(t, 15*time.Second, "readyz ok after Redis is back", func() bool {
			r := s.do(context.Background(), "GET", "/readyz", "", nil, nil)
			return r.status == 200 && r.json()["status"] == "ok"
		})
		if r := run(); r.status != 200 {
			t.Fatalf("run after Redis is back: %d %s", r.status, r.body)
		}
		paid++
	})

	t.Run("postgres restarted", func(t *testing.T) {
		restoreW := s.cut(t, edgeWalletPG)
		restoreF := s.cut(t, edgeWorkflowPG)
		down := time.Now()
		for time.Since(down) < 3*time.Second {
			r := timedDo(t, s, 4*time.Second, "GET", "/v1/wallet", tok, nil, nil)
			if r.status != 200 {
				wantProblem(t, r, 503)
			}
			r = run()
			if r.status == 200 {
				paid++
			} else if !isProblem(r) || r.status < 500 {
				t.Errorf("run with Postgres down: %d %s", r.status, r.body)
			}
		}
		restoreW()
		restoreF()
		eventually(t, 15*time.Second, "runs succeed again without restarting the services", func() bool {
			r := run()
			if r.status == 200 {
				paid++
			}
			return r.status == 200
		})
		if r := timedDo(t, s, 2*time.Second, "GET", "/v1/wallet", tok, nil, nil); r.status != 200 {
			t.Errorf("wallet after Postgres is back: %d %s", r.status, r.body)
		}
	})

	t.Run("service down", func(t *testing.T) {
		s.wallet.Kill()
		wantProblem(t, timedDo(t, s, 3*time.Second, "GET", "/v1/wallet", tok, nil, nil), 503)
		// The gateway itself stays ready (login and the webhook still work:
		// the probe's readiness on the admin port); the public /readyz
		// says a dependency is down, and the detail on the admin port
		// which one.
		if code, m := s.selfReady(t); code != 200 || m["status"] != "ok" {
			t.Errorf("the gateway's own readiness with the wallet down: %d %v", code, m)
		}
		if r := timedDo(t, s, 3*time.Second, "GET", "/readyz", "", nil, nil); r.status != 503 || r.json()["status"] != "unavailable" {
			t.Errorf("/readyz with the wallet down: %d %s", r.status, r.body)
		}
		if code, m := s.readyDetail(t); code != 503 || m["dependencies"].(map[string]any)["wallet"].(map[string]any)["status"] != "down" {
			t.Errorf("the readiness detail with the wallet down: %d %v", code, m)
		}
		// A run cannot reserve: it fails without charging, quickly.
		if r := run(); r.status == 200 {
			t.Errorf("run with the wallet down: %d %s", r.status, r.body)
		} else if !isProblem(r) {
			t.Errorf("run with the wallet down: %d %s", r.status, r.body)
		}
		restart(t, s.wallet)

		restore := s.cut(t, edgeGatewayWF)
		wantProblem(t, timedDo(t, s, 3*time.Second, "POST", "/v1/workflows/instant/runs", tok, map[string]any{"input": map[string]any{}}, nil), 503)
		wantProblem(t, timedDo(t, s, 3*time.Second, "GET", "/v1/runs", tok, nil, nil), 503)
		restore()

		// A black hole (connections accepted, nothing answered) is bounded by
		// the gateway's call timeout, not a hang.
		remove := s.toxic(t, edgeGatewayWallet, "blackhole", "timeout", "downstream", map[string]any{"timeout": 0})
		r := timedDo(t, s, 4*time.Second, "GET", "/v1/wallet", tok, nil, nil)
		if r.status < 500 || !isProblem(r) {
			t.Errorf("black-holed wallet: %d %s", r.status, r.body)
		}
		remove()
		eventually(t, 15*time.Second, "wallet reachable again", func() bool {
			return s.do(context.Background(), "GET", "/v1/wallet", tok, nil, nil).status == 200
		})
	})

	quiesce(t, s)
	b := &bank{t: t, s: s, counts: map[string]int{}, users: []*bankUser{{id: uid, token: tok}}}
	b.check(t)
	t.Logf("DRILL outages: %d paid runs", paid)
}
