package database_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/meterflow/meterflow/platform/database"
	"github.com/meterflow/meterflow/platform/database/dbtest"
)

// TestMaxConns: DATABASE_POOL_MAX_CONNS wins over pool_max_conns in the
// URL, which wins over DefaultMaxConns (regression: the manifests' pool
// size was ignored, and 13 pods x 16 connections could exceed a
// database's max_connections). Not parallel: t.Setenv.
func TestMaxConns(t *testing.T) {
	const base = "postgres://u@db:5432/x?sslmode=disable"
	tests := []struct {
		name, env, url string
		want           int32
		wantErr        bool
	}{
		{"default", "", base, database.DefaultMaxConns, false},
		{"url", "", base + "&pool_max_conns=7", 7, false},
		{"env", "5", base, 5, false},
		{"env wins over url", "5", base + "&pool_max_conns=40", 5, false},
		{"zero", "0", base, 0, true},
		{"garbage", "many", base, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(database.PoolSizeVar, tc.env)
			got, err := database.MaxConns(tc.url)
			if got != tc.want || (err != nil) != tc.wantErr {
				t.Fatalf("MaxConns = %d, %v; want %d, error %t", got, err, tc.want, tc.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), database.PoolSizeVar) {
				t.Errorf("the error does not name the variable: %v", err)
			}
		})
	}
	t.Run("open", func(t *testing.T) {
		_, url := dbtest.New(t, nil)
		t.Setenv(database.PoolSizeVar, "3")
		pool, err := database.Open(context.Background(), url+"&pool_max_conns=30")
		if err != nil {
			t.Fatal(err)
		}
		defer pool.Close()
		if got := pool.Config().MaxConns; got != 3 {
			t.Fatalf("the pool opened with %d connections, want 3", got)
		}
	})
}

// TestPoolMetrics: the pool's statistics are exported under exactly the
// names the alerts and dashboards use (docs/runbooks/README.md).
func TestPoolMetrics(t *testing.T) {
	t.Parallel()
	_, url := dbtest.New(t, nil)
	pool, err := database.Open(context.Background(), url+"&pool_max_conns=4")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	reg := prometheus.NewRegistry()
	if err := database.RegisterPoolMetrics(reg, pool); err != nil {
		t.Fatal(err)
	}
	conn, err := pool.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, want := range []string{
		"db_pool_max_conns 4\n",
		"db_pool_acquired_conns 1\n",
		"db_pool_total_conns 1\n",
		"# TYPE db_pool_empty_acquire_wait_seconds_total counter\n",
	} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("/metrics lacks %q:\n%s", want, rec.Body.String())
		}
	}
}
