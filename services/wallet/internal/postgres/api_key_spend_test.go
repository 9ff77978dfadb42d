package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/meterflow/meterflow/platform/database/dbtest"
	"github.com/meterflow/meterflow/services/wallet/internal/postgres"
	"github.com/meterflow/meterflow/services/wallet/internal/wallet"
	"github.com/meterflow/meterflow/services/wallet/migrations"
)

func ptr(v int64) *int64 { return &v }

var january = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// keyReserve is a reserve of amount for key in month with limit.
func keyReserve(user, key uuid.UUID, amount int64, month time.Time, limit *int64) wallet.ReserveInput {
	return wallet.ReserveInput{
		ID: uuid.New(), Key: uuid.NewString(), UserID: user, AmountCents: amount, ExpiresAt: time.Now().Add(time.Hour),
		APIKeyID: key, SpendMonth: month, LimitCents: limit,
	}
}

func keySpent(t *testing.T, pool *pgxpool.Pool, key uuid.UUID, month time.Time) int64 {
	t.Helper()
	var n int64
	err := pool.QueryRow(context.Background(), `SELECT COALESCE((SELECT spent_cents FROM api_key_month_spend WHERE api_key_id = $1 AND month = $2), 0)`, key, month).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestReserveHoldAgreesWithKeyMonthAllows holds the key-limit rule that
// runs in PL/pgSQL (reserve_hold, ADR 0010) against the wallet package's
// rule, wallet.KeyMonth.Allows, at and around every boundary: a keyed
// reserve succeeds exactly when the key's month allows it, and then raises
// the month's spend by its amount; a refused one writes nothing, not even
// its hold, and the account's held amount stays.
func TestReserveHoldAgreesWithKeyMonthAllows(t *testing.T) {
	t.Parallel()
	pool, _ := dbtest.New(t, migrations.FS)
	s := postgres.New(pool)
	ctx := context.Background()
	tests := []struct {
		name          string
		spent, amount int64
		limit         *int64
	}{
		{"first reserve within the limit", 0, 10, ptr(50)},
		{"first reserve exactly the limit", 0, 50, ptr(50)},
		{"first reserve over the limit", 0, 51, ptr(50)},
		{"a limit of zero", 0, 1, ptr(0)},
		{"up to the limit", 40, 10, ptr(50)},
		{"one cent over", 41, 10, ptr(50)},
		{"already at the limit", 50, 1, ptr(50)},
		{"no limit", 1_000_000, 10, nil},
	}
	for _, tc := range tests {
		user, key := uuid.New(), uuid.New()
		seed(t, s, user, 2_000_000)
		if tc.spent > 0 {
			if _, err := s.Reserve(ctx, keyReserve(user, key, tc.spent, january, nil)); err != nil {
				t.Fatal(err)
			}
		}
		_, err := s.Reserve(ctx, keyReserve(user, key, tc.amount, january, tc.limit))
		allowed := wallet.KeyMonth{SpentCents: tc.spent, LimitCents: tc.limit}.Allows(tc.amount)
		if got := err == nil; got != allowed || (err != nil && !errors.Is(err, wallet.ErrSpendLimitExceeded)) {
			t.Errorf("%s: reserve = %v; Allows says %v", tc.name, err, allowed)
		}
		want := tc.spent
		if allowed {
			want += tc.amount
		}
		if got := keySpent(t, pool, key, january); got != want {
			t.Errorf("%s: spent = %d, want %d", tc.name, got, want)
		}
		ws, _ := s.GetWallets(ctx, []uuid.UUID{user})
		if ws[user].HeldCents != want {
			t.Errorf("%s: held = %d, want %d (a refused hold holds nothing)", tc.name, ws[user].HeldCents, want)
		}
	}
	if bad, err := s.Verify(ctx); err != nil || len(bad) != 0 {
		t.Fatalf("verify = %+v, %v", bad, err)
	}
}

// TestKeyMonthsAreSeparate: the limit is per key and per month.
func TestKeyMonthsAreSeparate(t *testing.T) {
	t.Parallel()
	pool, _ := dbtest.New(t, migrations.FS)
	s := postgres.New(pool)
	ctx := context.Background()
	user, k1, k2 := uuid.New(), uuid.New(), uuid.New()
	seed(t, s, user, 1000)
	february := january.AddDate(0, 1, 0)
	for _, r := range []wallet.ReserveInput{
		keyReserve(user, k1, 30, january, ptr(30)),
		keyReserve(user, k2, 30, january, ptr(30)),
		keyReserve(user, k1, 30, february, ptr(30)),
	} {
		if _, err := s.Reserve(ctx, r); err != nil {
			t.Fatalf("reserve %v: %v", r, err)
		}
	}
	if _, err := s.Reserve(ctx, keyReserve(user, k1, 1, january, ptr(30))); !errors.Is(err, wallet.ErrSpendLimitExceeded) {
		t.Fatalf("k1 in January over its limit: %v", err)
	}
	// A run without a key is not limited by any key.
	if _, err := s.Reserve(ctx, wallet.ReserveInput{ID: uuid.New(), Key: "plain", UserID: user, AmountCents: 100, ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	spend, err := s.APIKeySpend(ctx, user, january, []uuid.UUID{k1, k2, uuid.New()})
	if err != nil || len(spend) != 2 || spend[k1] != 30 || spend[k2] != 30 {
		t.Fatalf("January spend = %v, %v", spend, err)
	}
	if other, err := s.APIKeySpend(ctx, uuid.New(), january, []uuid.UUID{k1}); err != nil || len(other) != 0 {
		t.Fatalf("another user sees %v, %v", other, err)
	}
}

// TestReleaseGivesBackToTheHoldsMonth: a release, by call or by the
// expiry sweep, gives the amount back to the month the hold was reserved
// in, whatever month it is now; a capture keeps it spent.
func TestReleaseGivesBackToTheHoldsMonth(t *testing.T) {
	t.Parallel()
	pool, _ := dbtest.New(t, migrations.FS)
	s := postgres.New(pool)
	ctx := context.Background()
	user, key := uuid.New(), uuid.New()
	seed(t, s, user, 1000)
	reserve := func(amount int64, expires time.Duration) wallet.Hold {
		in := keyReserve(user, key, amount, january, ptr(100))
		in.ExpiresAt = time.Now().Add(expires)
		h, err := s.Reserve(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		if h.APIKeyID != key || !h.SpendMonth.Equal(january) {
			t.Fatalf("hold = %+v", h)
		}
		return h
	}
	released, captured, expired := reserve(40, time.Hour), reserve(30, time.Hour), reserve(20, -time.Minute)
	if got := keySpent(t, pool, key, january); got != 90 {
		t.Fatalf("spent = %d, want 90", got)
	}
	if _, err := s.ReleaseHold(ctx, released.Key, func(wallet.Hold) (wallet.Settlement, error) { return wallet.Settlement{Apply: true}, nil }); err != nil {
		t.Fatal(err)
	}
	fee := wallet.LedgerEntry{ID: uuid.New(), Kind: wallet.KindFee, AmountCents: -30, SourceKey: "fee:" + captured.ID.String()}
	if _, err := s.CaptureHold(ctx, captured.Key, func(wallet.Hold) (wallet.Settlement, error) {
		return wallet.Settlement{Apply: true, Fee: fee}, nil
	}); err != nil {
		t.Fatal(err)
	}
	if n, err := s.ReleaseExpiredHolds(ctx, time.Now(), 10); err != nil || n != 1 {
		t.Fatalf("sweep = %d, %v", n, err)
	}
	if got := keySpent(t, pool, key, january); got != 30 {
		t.Fatalf("spent = %d, want 30 (the captured fee only; expired %v)", got, expired.ID)
	}
	if bad, err := s.Verify(ctx); err != nil || len(bad) != 0 {
		t.Fatalf("verify = %+v, %v", bad, err)
	}
}

// TestVerifyChecksKeyMonths: a month whose spend disagrees with its holds,
// or exceeds its limit, is a mismatch.
func TestVerifyChecksKeyMonths(t *testing.T) {
	t.Parallel()
	pool, _ := dbtest.New(t, migrations.FS)
	s := postgres.New(pool)
	ctx := context.Background()
	user, key := uuid.New(), uuid.New()
	seed(t, s, user, 1000)
	if _, err := s.Reserve(ctx, keyReserve(user, key, 40, january, ptr(50))); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, sql string
	}{
		{"spend drifted from the holds", `UPDATE api_key_month_spend SET spent_cents = 45`},
		{"over the limit", `UPDATE api_key_month_spend SET limit_cents = 30`},
	} {
		if _, err := pool.Exec(ctx, tc.sql); err != nil {
			t.Fatal(err)
		}
		bad, err := s.Verify(ctx)
		if err != nil || len(bad) != 1 || bad[0].KeySpend == nil || bad[0].KeySpend.APIKeyID != key || bad[0].UserID != user {
			t.Errorf("%s: verify = %+v, %v", tc.name, bad, err)
		}
		if _, err := pool.Exec(ctx, `UPDATE api_key_month_spend SET spent_cents = 40, limit_cents = 50`); err != nil {
			t.Fatal(err)
		}
	}
	if bad, err := s.Verify(ctx); err != nil || len(bad) != 0 {
		t.Fatalf("verify after repair = %+v, %v", bad, err)
	}
}
