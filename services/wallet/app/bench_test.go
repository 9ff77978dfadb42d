package app_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"

	walletv1 "github.com/meterflow/meterflow/proto/gen/meterflow/wallet/v1"
)

// BenchmarkReserveCapture measures a workflow run's money path (Reserve then
// Capture, through the real gRPC server and Postgres) on one hot account,
// where every call contends for the same row, and spread over 1,000 accounts.
//
//	go test -run '^$' -bench ReserveCapture -benchtime 3000x ./app
func BenchmarkReserveCapture(b *testing.B) {
	for _, accounts := range []int{1, 1000} {
		b.Run(fmt.Sprintf("accounts=%d", accounts), func(b *testing.B) {
			bb := setup(b, func(o *options) { o.stripeBase = "http://127.0.0.1:9" }) // Stripe is not used here
			users := bb.fundMany(accounts, 1_000_000_000)
			var seq atomic.Int64
			ctx := context.Background()
			b.SetParallelism(8)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := seq.Add(1)
					key := fmt.Sprintf("bench-%d", i)
					if _, err := bb.workflow.Reserve(ctx, &walletv1.ReserveRequest{Key: key, UserId: users[int(i)%accounts], AmountCents: 10}); err != nil {
						b.Error(err)
						return
					}
					if _, err := bb.workflow.Capture(ctx, &walletv1.CaptureRequest{Key: key}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
			bb.verify()
		})
	}
}

// fundMany creates n funded accounts with their opening ledger rows in one
// statement (1,000 admin calls would dominate the benchmark's setup).
func (b *bundle) fundMany(n int, cents int64) []string {
	b.t.Helper()
	rows, err := b.pool.Query(context.Background(), `
		WITH a AS (
			INSERT INTO accounts (user_id, balance_cents, currency)
			SELECT gen_random_uuid(), $2, 'usd' FROM generate_series(1, $1)
			RETURNING user_id
		)
		INSERT INTO transactions (id, user_id, kind, amount_cents, balance_after_cents, description)
		SELECT gen_random_uuid(), user_id, 'adjustment', $2, $2, 'benchmark funding' FROM a
		RETURNING user_id`, n, cents)
	if err != nil {
		b.t.Fatal(err)
	}
	var users []string
	for rows.Next() {
		var id uuid.UUID
		if err := rows.Scan(&id); err != nil {
			b.t.Fatal(err)
		}
		users = append(users, id.String())
	}
	if err := rows.Err(); err != nil || len(users) != n {
		b.t.Fatalf("funded %d of %d: %v", len(users), n, err)
	}
	return users
}
