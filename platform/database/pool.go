package database

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// PoolSizeVar is the environment variable that sizes every pool a process
// opens. It wins over pool_max_conns in DATABASE_URL: the manifests state
// the pool next to the replica counts that multiply it (the connection
// budget, deploy/budget_test.go), while the URL comes from a Secret that
// the database operator writes and nobody reviews with the budget.
const PoolSizeVar = "DATABASE_POOL_MAX_CONNS"

// MaxConns is the pool size for dbURL: DATABASE_POOL_MAX_CONNS when set,
// else the URL's pool_max_conns, else DefaultMaxConns.
func MaxConns(dbURL string) (int32, error) {
	if v := os.Getenv(PoolSizeVar); v != "" {
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil || n < 1 {
			return 0, fmt.Errorf("%s must be a positive integer, not %q", PoolSizeVar, v)
		}
		return int32(n), nil
	}
	cfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		return 0, fmt.Errorf("database: parse DATABASE_URL: %w", err)
	}
	// pgxpool consumes the setting while parsing, so its value alone
	// cannot tell pgxpool's default from a choice: look for the key.
	if strings.Contains(dbURL, "pool_max_conns") {
		return cfg.MaxConns, nil
	}
	return DefaultMaxConns, nil
}

// RegisterPoolMetrics exports pool's statistics on reg, read at scrape:
// db_pool_max_conns, db_pool_acquired_conns, db_pool_total_conns and
// db_pool_empty_acquire_wait_seconds_total (the alert on pool saturation
// and the databases dashboard use them; docs/runbooks). A process has one
// pool, so the series carry no label of their own: the scrape adds job
// and pod.
func RegisterPoolMetrics(reg prometheus.Registerer, pool *pgxpool.Pool) error {
	stat := func(v func(*pgxpool.Stat) float64) func() float64 {
		return func() float64 { return v(pool.Stat()) }
	}
	cs := []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "db_pool_max_conns", Help: "The most connections the pool may open (DATABASE_POOL_MAX_CONNS)."},
			stat(func(s *pgxpool.Stat) float64 { return float64(s.MaxConns()) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "db_pool_acquired_conns", Help: "Connections checked out of the pool now."},
			stat(func(s *pgxpool.Stat) float64 { return float64(s.AcquiredConns()) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "db_pool_total_conns", Help: "Connections the pool has open now (idle, acquired and being opened)."},
			stat(func(s *pgxpool.Stat) float64 { return float64(s.TotalConns()) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "db_pool_empty_acquire_wait_seconds_total",
			Help: "Seconds spent waiting for a connection because the pool was empty (all acquired): the time queries queued behind the pool.",
		}, stat(func(s *pgxpool.Stat) float64 { return math.Max(0, s.EmptyAcquireWaitTime().Seconds()) })),
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("database: register pool metrics: %w", err)
		}
	}
	return nil
}
