package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/meterflow/meterflow/platform/database/dbtest"
	"github.com/meterflow/meterflow/platform/idempotency"
	"github.com/meterflow/meterflow/services/wallet/internal/postgres"
	"github.com/meterflow/meterflow/services/wallet/internal/wallet"
	"github.com/meterflow/meterflow/services/wallet/migrations"
)

func TestBeginIdempotent(t *testing.T) {
	t.Parallel()
	pool, _ := dbtest.New(t, migrations.FS)
	s := postgres.New(pool)
	ctx := context.Background()
	now := time.Now()
	key := wallet.IdempotencyKey{UserID: uuid.New(), Scope: wallet.ScopeTopUp, Key: "k"}
	begin := func(hash string, at time.Time) (wallet.KeyState, uuid.UUID, error) {
		id := uuid.New()
		st, err := s.BeginIdempotent(ctx, wallet.KeyedRequest{
			IdempotencyKey: key, RequestHash: []byte(hash), ResourceID: id, Now: at,
			StaleBefore: at.Add(-5 * time.Minute), ExpiredBefore: at.Add(-48 * time.Hour),
		})
		return st, id, err
	}

	st, id, err := begin("a", now)
	if err != nil || st.Replay || st.ResourceID != id {
		t.Fatalf("first = %+v, %v", st, err)
	}
	first := id
	if _, _, err := begin("a", now); !errors.Is(err, idempotency.ErrInProgress) {
		t.Fatalf("repeat while processing: %v", err)
	}
	if _, _, err := begin("b", now); !errors.Is(err, idempotency.ErrKeyReused) {
		t.Fatalf("other request: %v", err)
	}
	// Ten minutes later the first request counts as abandoned: the repeat takes
	// it over with the first request's resource id.
	st, _, err = begin("a", now.Add(10*time.Minute))
	if err != nil || st.ResourceID != first {
		t.Fatalf("takeover = %+v, %v; want resource %s", st, err, first)
	}
	if _, _, err := begin("b", now.Add(10*time.Minute)); !errors.Is(err, idempotency.ErrKeyReused) {
		t.Fatalf("other request after takeover: %v", err)
	}

	// Completed: replayed, whatever the time within the TTL.
	if _, err := s.CreateTopUp(ctx, wallet.TopUp{ID: first, UserID: key.UserID, AmountCents: 500, Currency: "usd"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AttachCheckoutSession(ctx, first, wallet.CheckoutSession{ID: "cs_1", URL: "https://x"}, &key, []byte(`{"stored":true}`)); err != nil {
		t.Fatal(err)
	}
	st, _, err = begin("a", now.Add(time.Hour))
	if err != nil || string(st.Response) != `{"stored":true}` {
		t.Fatalf("replay = %+v, %v", st, err)
	}
	// Past the TTL the key is free again, even for another request.
	st, id, err = begin("b", now.Add(49*time.Hour))
	if err != nil || st.Replay || st.ResourceID != id {
		t.Fatalf("after TTL = %+v, %v", st, err)
	}
	// The sweeper's limit is on the same clock as the requests (their Now).
	if n, err := s.DeleteExpiredIdempotencyKeys(ctx, now.Add(49*time.Hour+time.Minute)); err != nil || n != 1 {
		t.Fatalf("sweep = %d, %v", n, err)
	}
}

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

// seed credits amount to user's account through an adjustment.
func seed(t *testing.T, s *postgres.Store, user uuid.UUID, amount int64) {
	t.Helper()
	key := wallet.KeyedRequest{
		IdempotencyKey: wallet.IdempotencyKey{UserID: uuid.New(), Scope: wallet.ScopeAdjustment, Key: "seed"},
		RequestHash:    []byte("seed"), ResourceID: uuid.New(), Now: time.Now(),
	}
	_, _, err := s.Adjust(context.Background(), key, user, "usd", func(w wallet.Wallet, id uuid.UUID) (wallet.Adjustment, error) {
		return wallet.Adjustment{
			Entry: wallet.LedgerEntry{ID: id, Kind: wallet.KindAdjustment, AmountCents: amount, Description: "seed"},
			Audit: wallet.AuditEvent{ID: uuid.New(), ActorID: key.UserID, Action: wallet.ActionAdjust, TargetType: "user",
				TargetID: user.String(), Reason: "seed", Before: []byte("{}"), After: []byte("{}")},
		}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
