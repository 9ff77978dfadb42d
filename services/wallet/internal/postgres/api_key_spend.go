package postgres

import (
	"context"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/meterflow/meterflow/services/wallet/internal/postgres/db"
)

// APIKeySpend implements wallet.Store.
func (s *Store) APIKeySpend(ctx context.Context, userID uuid.UUID, month time.Time, keyIDs []uuid.UUID) (map[uuid.UUID]int64, error) {
	out := make(map[uuid.UUID]int64, len(keyIDs))
	if len(keyIDs) == 0 {
		return out, nil
	}
	rows, err := s.q.APIKeySpend(ctx, s.pool, db.APIKeySpendParams{UserID: userID, Month: month, ApiKeyIds: keyIDs})
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		out[r.ApiKeyID] = r.SpentCents
	}
	return out, nil
}

// keyMonth names one API key's month.
type keyMonth struct {
	key   uuid.UUID
	month time.Time
}

// unholdKeyMonths gives released amounts back to their key months, in
// (key, month) order (see ReleaseExpiredHolds).
func (s *Store) unholdKeyMonths(ctx context.Context, tx pgx.Tx, amounts map[keyMonth]int64) error {
	kms := make([]keyMonth, 0, len(amounts))
	for km := range amounts {
		kms = append(kms, km)
	}
	slices.SortFunc(kms, func(a, b keyMonth) int {
		if c := slices.Compare(a.key[:], b.key[:]); c != 0 {
			return c
		}
		return a.month.Compare(b.month)
	})
	for _, km := range kms {
		if err := s.q.UnholdKeySpend(ctx, tx, db.UnholdKeySpendParams{Amount: amounts[km], ApiKeyID: km.key, Month: km.month}); err != nil {
			return err
		}
	}
	return nil
}
