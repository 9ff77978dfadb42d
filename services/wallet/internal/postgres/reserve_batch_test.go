package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/meterflow/meterflow/platform/database/dbtest"
	"github.com/meterflow/meterflow/services/wallet/internal/postgres"
	"github.com/meterflow/meterflow/services/wallet/internal/wallet"
	"github.com/meterflow/meterflow/services/wallet/migrations"
)

// batchHold is one reserve of a batch test: of user (an index into the
// case's balances; -1 a user without an account), with the API key apiKey
// (an index from 1; 0 none) in month (0 January, 1 February) under limit,
// or a repeat of the key of the before-hold reuse (from 1).
type batchHold struct {
	user   int
	amount int64
	apiKey int
	month  int
	limit  *int64
	reuse  int
}

// TestReserveHoldsAgreesWithRules holds the batched reserve rule that runs
// in PL/pgSQL (reserve_holds, migration 00008, ADR 0017) against the
// wallet package's rules applied one hold after the other in the batch's
// order: wallet.KeyMonth.Allows first, then wallet.Wallet.Covers on the
// running balance. Every hold's answer, every account's held amount, every
// key month's spend and the holds written must be what that sequence says,
// and `wallet verify` must pass.
func TestReserveHoldsAgreesWithRules(t *testing.T) {
	t.Parallel()
	pool, _ := dbtest.New(t, migrations.FS)
	s := postgres.New(pool)
	ctx := context.Background()
	many := func(n int, h batchHold) []batchHold {
		out := make([]batchHold, n)
		for i := range out {
			out[i] = h
		}
		return out
	}
	tests := []struct {
		name     string
		balances []int64
		before   []batchHold
		batch    []batchHold
	}{
		{"exactly k of n fit", []int64{100}, nil, many(13, batchHold{amount: 10})},
		{"a smaller hold fits after a refused one", []int64{100}, nil,
			[]batchHold{{amount: 60}, {amount: 50}, {amount: 40}, {amount: 1}}},
		{"held funds count", []int64{100}, []batchHold{{amount: 70}},
			[]batchHold{{amount: 20}, {amount: 20}, {amount: 10}}},
		{"negative balance", []int64{-50}, nil, []batchHold{{amount: 1}}},
		{"several accounts", []int64{30, 10, 0}, nil, []batchHold{
			{user: 0, amount: 10}, {user: 1, amount: 10}, {user: 2, amount: 1}, {user: 0, amount: 20},
			{user: 1, amount: 1}, {user: 0, amount: 1}, {user: -1, amount: 1}}},
		{"a user without an account among others", []int64{10}, nil,
			[]batchHold{{user: -1, amount: 5}, {amount: 10}, {user: -1, amount: 1}}},
		{"a key used before answers its hold, covered or not", []int64{100}, []batchHold{{amount: 90}, {amount: 5}},
			[]batchHold{{reuse: 1}, {amount: 5}, {reuse: 2}, {amount: 1}}},
		{"API key limit", []int64{1000}, nil, many(4, batchHold{amount: 10, apiKey: 1, limit: ptr(25)})},
		{"API key limit with spend before", []int64{1000}, []batchHold{{amount: 20, apiKey: 1}},
			[]batchHold{{amount: 10, apiKey: 1, limit: ptr(35)}, {amount: 10, apiKey: 1, limit: ptr(35)}, {amount: 5, apiKey: 1, limit: ptr(35)}}},
		{"a limit of zero", []int64{1000}, nil, []batchHold{{amount: 1, apiKey: 1, limit: ptr(0)}, {amount: 1, apiKey: 1}}},
		{"spend limit is checked before funds", []int64{5}, nil,
			[]batchHold{{amount: 10, apiKey: 1, limit: ptr(5)}, {amount: 10, apiKey: 1, limit: ptr(20)}, {amount: 5, apiKey: 1, limit: ptr(20)}}},
		{"a limit changed within the batch", []int64{1000}, nil,
			[]batchHold{{amount: 10, apiKey: 1, limit: ptr(30)}, {amount: 10, apiKey: 1, limit: ptr(15)}, {amount: 10, apiKey: 1, limit: ptr(30)}}},
		{"keys and months apart", []int64{1000, 1000}, nil, []batchHold{
			{user: 0, amount: 10, apiKey: 1, limit: ptr(10)}, {user: 0, amount: 10, apiKey: 1, month: 1, limit: ptr(10)},
			{user: 1, amount: 10, apiKey: 2, limit: ptr(15)}, {user: 0, amount: 1, apiKey: 1, limit: ptr(10)},
			{user: 1, amount: 5, apiKey: 2, limit: ptr(15)}, {user: 1, amount: 7}}},
	}
	months := []time.Time{january, january.AddDate(0, 1, 0)}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			users := make([]uuid.UUID, len(tc.balances))
			model := make([]wallet.Wallet, len(tc.balances))
			for i, b := range tc.balances {
				users[i] = uuid.New()
				if _, err := pool.Exec(ctx, `INSERT INTO accounts (user_id, balance_cents, currency) VALUES ($1, $2, 'usd')`, users[i], b); err != nil {
					t.Fatal(err)
				}
				// The ledger row verify sums; a negative balance is what a
				// refund after spending leaves.
				kind := map[bool]string{true: wallet.KindAdjustment, false: wallet.KindWithdrawal}[b > 0]
				if b != 0 {
					if _, err := pool.Exec(ctx, `INSERT INTO transactions (id, user_id, kind, amount_cents, balance_after_cents) VALUES ($1, $2, $3, $4, $4)`, uuid.New(), users[i], kind, b); err != nil {
						t.Fatal(err)
					}
				}
				model[i] = wallet.Wallet{BalanceCents: b}
			}
			apiKeys := []uuid.UUID{uuid.Nil, uuid.New(), uuid.New()}
			type km struct{ key, month int }
			spent := map[km]int64{}
			nobody := uuid.New()
			input := func(h batchHold) wallet.ReserveInput {
				in := wallet.ReserveInput{ID: uuid.New(), Key: uuid.NewString(), AmountCents: h.amount, ExpiresAt: time.Now().Add(time.Hour),
					APIKeyID: apiKeys[h.apiKey], LimitCents: h.limit, UserID: nobody}
				if h.user >= 0 {
					in.UserID = users[h.user]
				}
				if h.apiKey != 0 {
					in.SpendMonth = months[h.month]
				}
				return in
			}
			var before []wallet.Hold
			for _, h := range tc.before {
				hold, err := s.Reserve(ctx, input(h))
				if err != nil {
					t.Fatal(err)
				}
				before = append(before, hold)
				model[h.user].HeldCents += h.amount
				spent[km{h.apiKey, h.month}] += h.amount
			}
			ins := make([]wallet.ReserveInput, len(tc.batch))
			for i, h := range tc.batch {
				ins[i] = input(h)
				if h.reuse > 0 {
					ins[i].Key, ins[i].AmountCents = before[h.reuse-1].Key, before[h.reuse-1].AmountCents
				}
			}
			got := s.ReserveBatch(ctx, postgres.Batches{}, ins)
			if len(got) != len(ins) {
				t.Fatalf("%d answers for %d holds", len(got), len(ins))
			}
			newHolds := len(tc.before)
			for i, h := range tc.batch {
				// The rules, one hold after the other.
				var want error
				switch {
				case h.reuse > 0:
				case h.user < 0:
					want = wallet.ErrInsufficientFunds
				case h.apiKey != 0 && !(wallet.KeyMonth{SpentCents: spent[km{h.apiKey, h.month}], LimitCents: h.limit}).Allows(h.amount):
					want = wallet.ErrSpendLimitExceeded
				case !model[h.user].Covers(h.amount):
					want = wallet.ErrInsufficientFunds
				default:
					model[h.user].HeldCents += h.amount
					spent[km{h.apiKey, h.month}] += h.amount
					newHolds++
				}
				r := got[i]
				if !errors.Is(r.Err, want) || (want == nil && r.Err != nil) {
					t.Errorf("hold %d (%+v) = %v, want %v", i, h, r.Err, want)
					continue
				}
				switch {
				case want != nil:
				case h.reuse > 0:
					if r.Out.ID != before[h.reuse-1].ID {
						t.Errorf("hold %d repeats key %d: answered %+v, want the hold before %+v", i, h.reuse, r.Out, before[h.reuse-1])
					}
				case r.Out.ID != ins[i].ID || r.Out.Key != ins[i].Key || r.Out.UserID != ins[i].UserID || r.Out.AmountCents != h.amount ||
					r.Out.Status != wallet.HoldHeld || r.Out.APIKeyID != ins[i].APIKeyID || !r.Out.SpendMonth.Equal(ins[i].SpendMonth) ||
					r.Out.CreatedAt.IsZero() || !r.Out.ExpiresAt.Equal(ins[i].ExpiresAt.Truncate(time.Microsecond)):
					t.Errorf("hold %d = %+v, want the reserve %+v", i, r.Out, ins[i])
				}
			}
			ws, err := s.GetWallets(ctx, users)
			if err != nil {
				t.Fatal(err)
			}
			for i, u := range users {
				if ws[u].HeldCents != model[i].HeldCents || ws[u].BalanceCents != model[i].BalanceCents {
					t.Errorf("account %d = %+v, want balance %d held %d", i, ws[u], model[i].BalanceCents, model[i].HeldCents)
				}
			}
			for k, want := range spent {
				if k.key == 0 {
					continue
				}
				if got := keySpent(t, pool, apiKeys[k.key], months[k.month]); got != want {
					t.Errorf("key %d month %d spent %d, want %d", k.key, k.month, got, want)
				}
			}
			var n int
			if err := pool.QueryRow(ctx, `SELECT count(*) FROM holds WHERE user_id = ANY($1)`, users).Scan(&n); err != nil || n != newHolds {
				t.Errorf("holds written = %d (%v), want %d", n, err, newHolds)
			}
			wantVerified(t, s)
		})
	}
}

// TestReserveBatchFallsBackOneByOne: a hold that fails the whole batch's
// statement (here a zero amount, which the holds table refuses; the wallet
// validates it before) makes the batch reserve its holds one by one: the
// bad hold gets its own error, the others their holds, in order.
func TestReserveBatchFallsBackOneByOne(t *testing.T) {
	t.Parallel()
	pool, _ := dbtest.New(t, migrations.FS)
	s := postgres.New(pool)
	var batches, fallbacks int
	opts := postgres.Batches{Max: 64, Observe: func(size int, fellBack bool) {
		batches++
		if fellBack {
			fallbacks++
		}
	}}
	s.BatchReserves(opts)
	ctx := context.Background()
	user := uuid.New()
	seed(t, s, user, 25)
	ins := make([]wallet.ReserveInput, 4)
	for i := range ins {
		ins[i] = wallet.ReserveInput{ID: uuid.New(), Key: fmt.Sprintf("fallback-%d", i), UserID: user, AmountCents: 10, ExpiresAt: time.Now().Add(time.Hour)}
	}
	ins[1].AmountCents = 0
	got := s.ReserveBatch(ctx, opts, ins)
	if got[0].Err != nil || got[0].Out.ID != ins[0].ID || got[2].Err != nil || got[2].Out.ID != ins[2].ID {
		t.Errorf("good holds = %+v, %+v", got[0], got[2])
	}
	if got[1].Err == nil || errors.Is(got[1].Err, wallet.ErrInsufficientFunds) {
		t.Errorf("bad hold = %+v, want its own constraint error", got[1])
	}
	if !errors.Is(got[3].Err, wallet.ErrInsufficientFunds) {
		t.Errorf("last hold = %+v, want insufficient funds (25 cents cover two)", got[3])
	}
	if batches != 1 || fallbacks != 1 {
		t.Errorf("observed %d batches, %d fallbacks; want 1 and 1", batches, fallbacks)
	}
	if ws, err := s.GetWallets(ctx, []uuid.UUID{user}); err != nil || ws[user].HeldCents != 20 {
		t.Errorf("wallet = %+v, %v; want 20 held", ws[user], err)
	}
	wantVerified(t, s)
}

// wantVerified fails unless `wallet verify` finds every invariant holding.
func wantVerified(t *testing.T, s *postgres.Store) {
	t.Helper()
	if bad, err := s.Verify(context.Background()); err != nil || len(bad) != 0 {
		t.Fatalf("verify = %+v, %v", bad, err)
	}
}
