package postgres_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/meterflow/meterflow/platform/database/dbtest"
	"github.com/meterflow/meterflow/services/wallet/internal/postgres"
	"github.com/meterflow/meterflow/services/wallet/internal/wallet"
	"github.com/meterflow/meterflow/services/wallet/migrations"
)

// BenchmarkCaptureStore measures wallet.Service.Capture on the store (no
// gRPC) from 1, 8 and 64 callers, over 1,000 accounts without settings
// (batches of one) and on one hot account, with the store's defaults
// (path=alone, one statement, ADR 0022) and with every capture in a
// transaction (path=tx, the path before). Both paths run in one binary,
// so a shared machine disturbs them alike.
//
//	go test -run '^$' -bench CaptureStore -benchtime 2000x -count 6 ./internal/postgres
func BenchmarkCaptureStore(b *testing.B) {
	pool, _ := dbtest.New(b, migrations.FS)
	for _, accounts := range []int{1000, 1} {
		for _, callers := range []int{1, 8, 64} {
			for _, path := range []string{"alone", "tx"} {
				b.Run(fmt.Sprintf("accounts=%d/callers=%d/path=%s", accounts, callers, path), func(b *testing.B) {
					store := postgres.New(pool)
					if path == "tx" {
						store.SettleInTransactions()
					}
					svc := wallet.NewService(wallet.Config{Store: store, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Currency: "usd",
						HoldDefaultTTL: time.Hour, HoldMaxTTL: 24 * time.Hour, PortalURL: "http://localhost"})
					ctx := context.Background()
					prefix := uuid.NewString() + "-"
					if _, err := pool.Exec(ctx, `
						WITH a AS (
							INSERT INTO accounts (user_id, balance_cents, held_cents, currency)
							SELECT gen_random_uuid(), 1000000000, 10 * ceil($2::numeric / $1)::bigint, 'usd' FROM generate_series(1, $1)
							RETURNING user_id
						), u AS (
							SELECT (row_number() OVER () - 1)::int AS n, user_id FROM a
						), l AS (
							INSERT INTO transactions (id, user_id, kind, amount_cents, balance_after_cents)
							SELECT gen_random_uuid(), user_id, 'adjustment', 1000000000, 1000000000 FROM a
						)
						INSERT INTO holds (id, key, user_id, amount_cents, status, expires_at)
						SELECT gen_random_uuid(), $3 || i, u.user_id, 10, 'held', now() + interval '1 hour'
						FROM generate_series(0, $2 - 1) i JOIN u ON u.n = i % $1`, accounts, b.N, prefix); err != nil {
						b.Fatal(err)
					}
					var next atomic.Int64
					var wg sync.WaitGroup
					b.ResetTimer()
					for range callers {
						wg.Go(func() {
							for i := next.Add(1) - 1; i < int64(b.N); i = next.Add(1) - 1 {
								if _, _, err := svc.Capture(ctx, fmt.Sprint(prefix, i)); err != nil {
									b.Error(err)
									return
								}
							}
						})
					}
					wg.Wait()
				})
			}
		}
	}
}
