package app_test

import (
	"context"
	"fmt"
	"testing"

	walletv1 "github.com/meterflow/meterflow/proto/gen/meterflow/wallet/v1"
)

// BenchmarkCaptureBatch measures Capture and Release alone (through the
// real gRPC server and Postgres) from 1, 8 and 64 concurrent callers on
// one hot account, whose b.N open holds are written before the timer
// starts. With the service's defaults: batched since ADR 0018, one by one
// before (run the same file on the older code for the "before" side).
// Besides time per call it reports each call's latency (p50, p99) and the
// holds settled per transaction.
//
//	go test -run '^$' -bench CaptureBatch -benchtime 2000x -count 6 ./app > settle.txt
func BenchmarkCaptureBatch(b *testing.B) {
	for _, op := range []string{"capture", "release"} {
		for _, callers := range []int{1, 8, 64} {
			b.Run(fmt.Sprintf("op=%s/callers=%d", op, callers), func(b *testing.B) {
				benchSettles(b, op, callers)
			})
		}
	}
}

func benchSettles(b *testing.B, op string, callers int) {
	bb := setup(b, func(o *options) { o.stripeBase = "http://127.0.0.1:9" })
	user := bb.fundMany(1, 1_000_000_000_000)[0]
	ctx := context.Background()
	if _, err := bb.pool.Exec(ctx, `
		WITH h AS (
			INSERT INTO holds (id, key, user_id, amount_cents, status, expires_at)
			SELECT gen_random_uuid(), 'bench-' || i, $1, 10, 'held', now() + interval '1 hour' FROM generate_series(0, $2 - 1) i
			RETURNING amount_cents
		)
		UPDATE accounts SET held_cents = held_cents + (SELECT sum(amount_cents) FROM h) WHERE user_id = $1`, user, b.N); err != nil {
		b.Fatal(err)
	}
	runCallers(b, callers, func(i int) error {
		key := fmt.Sprint("bench-", i)
		if op == "capture" {
			_, err := bb.workflow.Capture(ctx, &walletv1.CaptureRequest{Key: key})
			return err
		}
		_, err := bb.workflow.Release(ctx, &walletv1.ReleaseRequest{Key: key})
		return err
	})
	var txs int
	if err := bb.pool.QueryRow(ctx, `SELECT count(DISTINCT xmin::text) FROM holds WHERE status <> 'held'`).Scan(&txs); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/float64(txs), "holds/tx")
	bb.verify()
}
