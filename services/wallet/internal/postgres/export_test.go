package postgres

import (
	"context"

	"github.com/google/uuid"

	"github.com/meterflow/meterflow/platform/groupcommit"
	"github.com/meterflow/meterflow/services/wallet/internal/wallet"
)

// ReserveBatch runs ins as one batch, as a batcher configured by o does.
func (s *Store) ReserveBatch(ctx context.Context, o Batches, ins []wallet.ReserveInput) []groupcommit.Result[wallet.Hold] {
	return groupcommit.OneByOne(s.reserveHolds, s.reserveOne, o.observer("reserve"))(ctx, ins)
}

// SettlesQueued returns how many captures and releases of user wait for a
// batch.
func (s *Store) SettlesQueued(user uuid.UUID) int {
	if s.settles == nil {
		return 0
	}
	return s.settles.Queued(user)
}

// SettleInTransactions makes the store capture and settle batches in
// transactions, as for users with settings: the path the one-statement
// captures (ADR 0022) are held against.
func (s *Store) SettleInTransactions() {
	s.settleInTx = true
}
