package postgres

import (
	"context"

	"github.com/meterflow/meterflow/platform/groupcommit"
	"github.com/meterflow/meterflow/services/wallet/internal/wallet"
)

// ReserveBatch runs ins as one batch, as the batcher does.
func (s *Store) ReserveBatch(ctx context.Context, ins []wallet.ReserveInput) []groupcommit.Result[wallet.Hold] {
	return s.reserveBatch(ctx, ins)
}
