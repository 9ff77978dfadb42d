package app_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	walletv1 "github.com/meterflow/meterflow/proto/gen/meterflow/wallet/v1"
)

// BenchmarkReserveBatch measures Reserve alone (through the real gRPC
// server and Postgres) from 1, 8 and 64 concurrent callers, on one hot
// account and spread over 1,000, one by one (max=1, WALLET_RESERVE_BATCH_MAX=1)
// and batched (max=64, the default): the batches that can form are at
// most as large as the callers. Besides time per reserve it reports each
// reserve's latency (p50, p99) and the holds per transaction.
//
//	go test -run '^$' -bench ReserveBatch -benchtime 2000x -count 5 ./app > batch.txt
//	cd ../../bench && go tool benchstat -col /max ../services/wallet/app/batch.txt
func BenchmarkReserveBatch(b *testing.B) {
	for _, accounts := range []int{1, 1000} {
		for _, callers := range []int{1, 8, 64} {
			for _, maxBatch := range []int{1, 64} {
				b.Run(fmt.Sprintf("accounts=%d/callers=%d/max=%d", accounts, callers, maxBatch), func(b *testing.B) {
					benchReserves(b, accounts, callers, maxBatch)
				})
			}
		}
	}
}

func benchReserves(b *testing.B, accounts, callers, maxBatch int) {
	bb := setup(b, func(o *options) { o.stripeBase = "http://127.0.0.1:9"; o.batchMax = maxBatch })
	users := bb.fundMany(accounts, 1_000_000_000_000)
	ctx := context.Background()
	runCallers(b, callers, func(i int) error {
		_, err := bb.workflow.Reserve(ctx, &walletv1.ReserveRequest{Key: fmt.Sprint("bench-", i), UserId: users[i%accounts], AmountCents: 10})
		return err
	})
	var txs int
	if err := bb.pool.QueryRow(ctx, `SELECT count(DISTINCT xmin::text) FROM holds`).Scan(&txs); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/float64(txs), "holds/tx")
	bb.verify()
}

// runCallers calls call(i) for every i of [0, b.N) from callers
// goroutines, timed, and reports the rate and the calls' p50 and p99
// latencies; a failed call fails the benchmark.
func runCallers(b *testing.B, callers int, call func(i int) error) {
	latencies := make([]time.Duration, b.N)
	var seq atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for range callers {
		wg.Go(func() {
			for {
				i := int(seq.Add(1)) - 1
				if i >= b.N {
					return
				}
				start := time.Now()
				if err := call(i); err != nil {
					b.Error(err)
					return
				}
				latencies[i] = time.Since(start)
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	slices.Sort(latencies)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
	b.ReportMetric(float64(latencies[b.N/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(latencies[b.N*99/100].Microseconds()), "p99-µs")
}
