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
