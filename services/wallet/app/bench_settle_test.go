package app_test

import (
	"context"
	"fmt"
	"testing"

	walletv1 "github.com/meterflow/meterflow/proto/gen/meterflow/wallet/v1"
)

// BenchmarkCaptureBatch measures Capture and Release alone (through the
// real gRPC server and Postgres) from 1, 8 and 64 concurrent callers on
// one hot account, and spread over 1,000 (batches of one, the common
// case: ADR 0022), whose b.N open holds are written before the timer
// starts. With the service's defaults: batched since ADR 0018, one by one
// before (run the same file on the older code for the "before" side).
// Besides time per call it reports each call's latency (p50, p99), the
// CPU per call of the process and of Postgres (cpuMeter), and the holds
// settled per transaction.
//
//	go test -run '^$' -bench CaptureBatch -benchtime 2000x -count 6 ./app > settle.txt
func BenchmarkCaptureBatch(b *testing.B) {
	for _, accounts := range []int{1, 1000} {
		for _, op := range []string{"capture", "release"} {
			for _, callers := range []int{1, 8, 64} {
				name := fmt.Sprintf("op=%s/callers=%d", op, callers)
				if accounts > 1 {
					name = fmt.Sprintf("accounts=%d/%s", accounts, name)
				}
				b.Run(name, func(b *testing.B) {
					benchSettles(b, accounts, op, callers)
				})
			}
		}
	}
}

func benchSettles(b *testing.B, accounts int, op string, callers int) {
	bb := setup(b, func(o *options) { o.stripeBase = "http://127.0.0.1:9" })
	users := bb.fundMany(accounts, 1_000_000_000_000)
	ctx := context.Background()
	// Hold i is of users[i % accounts].
	if _, err := bb.pool.Exec(ctx, `
		WITH u AS (
			SELECT (ord - 1)::int AS n, id::uuid AS user_id FROM unnest($1::text[]) WITH ORDINALITY AS x(id, ord)
		), h AS (
			INSERT INTO holds (id, key, user_id, amount_cents, status, expires_at)
			SELECT gen_random_uuid(), 'bench-' || i, u.user_id, 10, 'held', now() + interval '1 hour'
			FROM generate_series(0, $2 - 1) i JOIN u ON u.n = i % cardinality($1::text[])
			RETURNING user_id, amount_cents
		)
		UPDATE accounts a SET held_cents = a.held_cents + s.held
		FROM (SELECT user_id, sum(amount_cents) AS held FROM h GROUP BY user_id) s WHERE a.user_id = s.user_id`, users, b.N); err != nil {
		b.Fatal(err)
	}
	cpu := startCPU(b, bb.pool)
	runCallers(b, callers, func(i int) error {
		key := fmt.Sprint("bench-", i)
		if op == "capture" {
			_, err := bb.workflow.Capture(ctx, &walletv1.CaptureRequest{Key: key})
			return err
		}
		_, err := bb.workflow.Release(ctx, &walletv1.ReleaseRequest{Key: key})
		return err
	})
	cpu.report(b)
	var txs int
	if err := bb.pool.QueryRow(ctx, `SELECT count(DISTINCT xmin::text) FROM holds WHERE status <> 'held'`).Scan(&txs); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/float64(txs), "holds/tx")
	bb.verify()
}
