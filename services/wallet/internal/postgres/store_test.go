package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/meterflow/meterflow/services/wallet/internal/postgres"
	"github.com/meterflow/meterflow/services/wallet/internal/wallet"
)

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

func countRows(t *testing.T, pool *pgxpool.Pool, query string) int64 {
	t.Helper()
	var n int64
	if err := pool.QueryRow(context.Background(), query).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
