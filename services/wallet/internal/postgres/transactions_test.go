package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/meterflow/meterflow/platform/database/dbtest"
	"github.com/meterflow/meterflow/services/wallet/internal/postgres"
	"github.com/meterflow/meterflow/services/wallet/internal/wallet"
	"github.com/meterflow/meterflow/services/wallet/migrations"
)

// TestListTransactionsDateBounds checks the operators' date filter on the
// ledger: created_from is inclusive, created_to exclusive, with and without
// a user (the bounds are row comparisons in the query, see
// ListAllTransactions).
func TestListTransactionsDateBounds(t *testing.T) {
	t.Parallel()
	pool, _ := dbtest.New(t, migrations.FS)
	s := postgres.New(pool)
	ctx := context.Background()
	user := uuid.New()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := pool.Exec(ctx, `INSERT INTO accounts (user_id, currency) VALUES ($1, 'usd')`, user); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `
INSERT INTO transactions (id, user_id, kind, amount_cents, balance_after_cents, description, created_at)
SELECT gen_random_uuid(), $1, 'adjustment', 1, i + 1, 'at +' || i || 'h', $2::timestamptz + i * interval '1 hour'
FROM generate_series(0, 3) AS i`, user, t0); err != nil {
		t.Fatal(err)
	}
	for _, who := range []*uuid.UUID{nil, &user} {
		got, err := s.ListTransactions(ctx, wallet.TransactionFilter{
			UserID: who, CreatedFrom: t0.Add(time.Hour), CreatedTo: t0.Add(3 * time.Hour), Limit: 10,
		})
		if err != nil {
			t.Fatal(err)
		}
		var descs []string
		for _, tx := range got {
			descs = append(descs, tx.Description)
		}
		if len(descs) != 2 || descs[0] != "at +2h" || descs[1] != "at +1h" {
			t.Errorf("user %v: rows %v, want [at +2h at +1h] (from inclusive, to exclusive, newest first)", who, descs)
		}
	}
}
