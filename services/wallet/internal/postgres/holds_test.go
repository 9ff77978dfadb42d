package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/meterflow/meterflow/platform/database/dbtest"
	"github.com/meterflow/meterflow/services/wallet/internal/postgres"
	"github.com/meterflow/meterflow/services/wallet/internal/wallet"
	"github.com/meterflow/meterflow/services/wallet/migrations"
)

func TestReleaseExpiredHoldsAcrossAccounts(t *testing.T) {
	t.Parallel()
	pool, _ := dbtest.New(t, migrations.FS)
	s := postgres.New(pool)
	ctx := context.Background()
	users := []uuid.UUID{uuid.New(), uuid.New(), uuid.New()}
	for _, u := range users {
		seed(t, s, u, 100)
		for i, exp := range []time.Duration{-time.Minute, -time.Second, time.Hour} {
			if _, err := s.Reserve(ctx, wallet.ReserveInput{ID: uuid.New(), Key: u.String() + string(rune('a'+i)), UserID: u, AmountCents: 10, ExpiresAt: time.Now().Add(exp)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Batches of 4: two passes release the six expired holds, in any split.
	total := 0
	for {
		n, err := s.ReleaseExpiredHolds(ctx, time.Now(), 4)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		total += n
	}
	if total != 6 {
		t.Fatalf("released %d, want 6", total)
	}
	ws, err := s.GetWallets(ctx, users)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		if w := ws[u]; w.HeldCents != 10 || w.BalanceCents != 100 {
			t.Fatalf("wallet %s = %+v", u, w)
		}
	}
	if bad, err := s.Verify(ctx); err != nil || len(bad) != 0 {
		t.Fatalf("verify = %+v, %v", bad, err)
	}
}

// TestReserveHoldAgreesWithCovers holds the reserve rule that runs in
// PL/pgSQL (reserve_hold, ADR 0010) against the wallet package's rule,
// wallet.Wallet.Covers, at and around every boundary: a reserve succeeds
// exactly when the account's available balance covers it, and then raises
// held_cents by its amount; a refused one writes nothing.
func TestReserveHoldAgreesWithCovers(t *testing.T) {
	t.Parallel()
	pool, _ := dbtest.New(t, migrations.FS)
	s := postgres.New(pool)
	ctx := context.Background()
	tests := []struct {
		balance, held, amount int64
	}{
		{100, 0, 1}, {100, 0, 100}, {100, 0, 101},
		{100, 40, 60}, {100, 40, 61}, {100, 100, 1},
		{0, 0, 1}, {-50, 0, 1}, {-50, 0, 50},
	}
	covered := int64(0)
	for _, tc := range tests {
		user := uuid.New()
		if _, err := pool.Exec(ctx, `INSERT INTO accounts (user_id, balance_cents, held_cents, currency) VALUES ($1, $2, $3, 'usd')`, user, tc.balance, tc.held); err != nil {
			t.Fatal(err)
		}
		w := wallet.Wallet{UserID: user, BalanceCents: tc.balance, HeldCents: tc.held}
		_, err := s.Reserve(ctx, wallet.ReserveInput{ID: uuid.New(), Key: user.String(), UserID: user, AmountCents: tc.amount, ExpiresAt: time.Now().Add(time.Hour)})
		if got, want := err == nil, w.Covers(tc.amount); got != want || (err != nil && !errors.Is(err, wallet.ErrInsufficientFunds)) {
			t.Errorf("balance %d held %d: reserve %d = %v; Covers says %v", tc.balance, tc.held, tc.amount, err, want)
		}
		wantHeld := tc.held
		if err == nil {
			wantHeld += tc.amount
			covered++
		}
		if ws, err := s.GetWallets(ctx, []uuid.UUID{user}); err != nil || ws[user].HeldCents != wantHeld || ws[user].BalanceCents != tc.balance {
			t.Errorf("balance %d held %d, reserve %d: wallet after = %+v, %v; want held %d", tc.balance, tc.held, tc.amount, ws[user], err, wantHeld)
		}
	}
	// No account: nothing to reserve, as for a zero wallet.
	nobody := uuid.New()
	if _, err := s.Reserve(ctx, wallet.ReserveInput{ID: uuid.New(), Key: "nobody", UserID: nobody, AmountCents: 1, ExpiresAt: time.Now().Add(time.Hour)}); !errors.Is(err, wallet.ErrInsufficientFunds) ||
		(wallet.Wallet{}).Covers(1) {
		t.Errorf("reserve without an account = %v", err)
	}
	if n := countRows(t, pool, `SELECT count(*) FROM holds`); n != covered || covered != 3 {
		t.Errorf("holds = %d, want the %d covered reserves only (3 cases)", n, covered)
	}
}
