package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/meterflow/meterflow/services/wallet/internal/postgres/db"
	"github.com/meterflow/meterflow/services/wallet/internal/wallet"
)

// insertAuditEvent writes e inside tx, with the change it records.
func (s *Store) insertAuditEvent(ctx context.Context, tx pgx.Tx, e wallet.AuditEvent) error {
	_, err := s.q.InsertAuditEvent(ctx, tx, db.InsertAuditEventParams{
		ID: e.ID, ActorID: e.ActorID, Action: e.Action, TargetType: e.TargetType, TargetID: e.TargetID,
		Reason: e.Reason, Before: e.Before, After: e.After,
	})
	return err
}

// ListAuditEvents implements wallet.Store.
func (s *Store) ListAuditEvents(ctx context.Context, f wallet.AuditFilter) ([]wallet.AuditEvent, error) {
	bt, bid := before(f.After)
	rows, err := s.q.ListAuditEvents(ctx, s.pool, db.ListAuditEventsParams{TargetID: f.TargetID, BeforeCreatedAt: bt, BeforeID: bid, RowLimit: int32(f.Limit)})
	if err != nil {
		return nil, err
	}
	out := make([]wallet.AuditEvent, len(rows))
	for i, r := range rows {
		out[i] = wallet.AuditEvent{ID: r.ID, ActorID: r.ActorID, Action: r.Action, TargetType: r.TargetType, TargetID: r.TargetID,
			Reason: r.Reason, Before: r.Before, After: r.After, CreatedAt: r.CreatedAt}
	}
	return out, nil
}
