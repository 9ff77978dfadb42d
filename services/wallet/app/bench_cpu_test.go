package app_test

import (
	"context"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// cpuMeter measures the CPU time a benchmark's loop costs, which a shared
// machine disturbs far less than its wall time: the test process's (the
// wallet's gRPC server and its callers) and that of the Postgres backends
// of the benchmark's database (their /proc/<pid>/schedstat).
type cpuMeter struct {
	pool    *pgxpool.Pool
	self    time.Duration
	backend map[int]time.Duration
}

func startCPU(b *testing.B, pool *pgxpool.Pool) *cpuMeter {
	b.Helper()
	return &cpuMeter{pool: pool, self: selfCPU(b), backend: backendCPU(b, pool)}
}

// report adds the loop's CPU per call: wallet-cpu-µs/op (the test
// process) and pg-cpu-µs/op (the backends, those that ended during the
// loop not counted).
func (m *cpuMeter) report(b *testing.B) {
	b.Helper()
	self := selfCPU(b) - m.self
	var pg time.Duration
	for pid, t := range backendCPU(b, m.pool) {
		pg += t - m.backend[pid]
	}
	b.ReportMetric(float64(self.Microseconds())/float64(b.N), "wallet-cpu-µs/op")
	b.ReportMetric(float64(pg.Microseconds())/float64(b.N), "pg-cpu-µs/op")
}

func selfCPU(b *testing.B) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// backendCPU is the CPU time of each backend of pool's database, by pid.
func backendCPU(b *testing.B, pool *pgxpool.Pool) map[int]time.Duration {
	b.Helper()
	rows, err := pool.Query(context.Background(), `SELECT pid FROM pg_stat_activity WHERE datname = current_database()`)
	if err != nil {
		b.Fatal(err)
	}
	defer rows.Close()
	out := map[int]time.Duration{}
	for rows.Next() {
		var pid int
		if err := rows.Scan(&pid); err != nil {
			b.Fatal(err)
		}
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/schedstat")
		if err != nil {
			continue // ended, or not on this machine
		}
		if f := strings.Fields(string(stat)); len(f) > 0 {
			ns, _ := strconv.ParseInt(f[0], 10, 64)
			out[pid] = time.Duration(ns)
		}
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
	return out
}
