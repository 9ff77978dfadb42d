package postgres_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/meterflow/meterflow/platform/database/dbtest"
	"github.com/meterflow/meterflow/services/wallet/internal/postgres/db"
	"github.com/meterflow/meterflow/services/wallet/migrations"
)

// TestListTransactionsPlans checks which index serves each kind of ledger
// list on skewed data: one user owns 97 % of the rows, all older than
// everyone else's recent ones. A user's page must come from the user's
// index, not from the operators' created_at index filtered on user_id,
// which reads every newer row of other users first (what the bench's
// growth user hit).
func TestListTransactionsPlans(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _ := dbtest.New(t, migrations.FS)
	heavy, light := uuid.MustParse("00000000-0000-4000-8000-000000000001"), uuid.MustParse("00000000-0000-4000-8000-000000000007")
	_, err := pool.Exec(ctx, `
INSERT INTO accounts (user_id, currency)
SELECT ('00000000-0000-4000-8000-' || lpad(i::text, 12, '0'))::uuid, 'usd' FROM generate_series(1, 50) AS i;
INSERT INTO transactions (id, user_id, kind, amount_cents, balance_after_cents, created_at)
SELECT gen_random_uuid(),
       ('00000000-0000-4000-8000-' || lpad(CASE WHEN i <= 50000 THEN 1 ELSE 2 + i % 49 END::text, 12, '0'))::uuid,
       CASE WHEN i % 4 = 0 THEN 'deposit' ELSE 'fee' END, CASE WHEN i % 4 = 0 THEN 40 ELSE -10 END, 0,
       CASE WHEN i <= 50000 THEN now() - interval '30 days' + i * interval '1 second' ELSE now() - (51500 - i) * interval '1 ms' END
FROM generate_series(1, 51500) AS i;
ANALYZE transactions;`)
	if err != nil {
		t.Fatal(err)
	}
	farPast, farFuture := time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	user := func(id uuid.UUID, kind string) func(*dbtest.Recorder) {
		return func(r *dbtest.Recorder) {
			_, _ = db.New().ListUserTransactions(ctx, r, db.ListUserTransactionsParams{
				UserID: id, Kind: kind, BeforeCreatedAt: farFuture, BeforeID: uuid.Max, RowLimit: 51,
			})
		}
	}
	operators := func(userID *uuid.UUID, kind, query string, from time.Time) func(*dbtest.Recorder) {
		return func(r *dbtest.Recorder) {
			_, _ = db.New().ListAllTransactions(ctx, r, db.ListAllTransactionsParams{
				UserID: userID, Kind: kind, Query: query, CreatedFrom: from, CreatedTo: farFuture,
				BeforeCreatedAt: farFuture, BeforeID: uuid.Max, RowLimit: 51,
			})
		}
	}
	lastWeek := time.Now().Add(-7 * 24 * time.Hour)
	// A list of one user's rows may use either user index (the planner's
	// call), also when an operator asks with dates or a search; lists
	// across users use the partial "_all" indexes.
	tests := []struct {
		name       string
		list       func(*dbtest.Recorder)
		wantPrefix string
		wantSuffix string
	}{
		{"heavy user", user(heavy, ""), "transactions_user_", ""},
		{"heavy user, fees", user(heavy, "fee"), "transactions_user_", ""},
		{"light user", user(light, ""), "transactions_user_", ""},
		{"operators, every row", operators(nil, "", "", farPast), "transactions_", "_all"},
		{"operators, deposits", operators(nil, "deposit", "", farPast), "transactions_", "_all"},
		{"operators, last week", operators(nil, "", "", lastWeek), "transactions_", "_all"},
		{"operators, heavy user, last week", operators(&heavy, "", "", lastWeek), "transactions_user_", ""},
		{"operators, heavy user, search", operators(&heavy, "", "run", farPast), "transactions_user_", ""},
		// The charts' series: a user's spend on the user's index, the
		// operators' money per day on a partial "_all" index.
		{"light user, spend per day", func(r *dbtest.Recorder) {
			_, _ = db.New().UserSpendByDay(ctx, r, db.UserSpendByDayParams{UserID: light, First: lastWeek, Last: time.Now()})
		}, "transactions_user_", ""},
		{"operators, money per day", func(r *dbtest.Recorder) {
			_, _ = db.New().MoneyByDay(ctx, r, db.MoneyByDayParams{First: time.Now().Add(-time.Hour), Last: time.Now()})
		}, "transactions_", "_all"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := &dbtest.Recorder{}
			tc.list(rec)
			got := dbtest.IndexesUsed(t, pool, rec)
			if len(got) != 1 || !strings.HasPrefix(got[0], tc.wantPrefix) || !strings.HasSuffix(got[0], tc.wantSuffix) {
				t.Fatalf("plan reads indexes %v, want one index %s*%s", got, tc.wantPrefix, tc.wantSuffix)
			}
		})
	}
}
