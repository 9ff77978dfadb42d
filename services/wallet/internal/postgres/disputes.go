package postgres

import (
	"context"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/meterflow/meterflow/platform/paging"
	"github.com/meterflow/meterflow/services/wallet/internal/postgres/db"
	"github.com/meterflow/meterflow/services/wallet/internal/wallet"
)

// writeDispute writes a dispute's row and moves the account's held amount
// by its change, in the event's transaction (the top-up is locked, so the
// events of one payment's disputes are applied one at a time).
func (s *Store) writeDispute(ctx context.Context, tx pgx.Tx, d wallet.DisputeChange) error {
	r := d.Row
	if err := s.q.UpsertDispute(ctx, tx, db.UpsertDisputeParams{
		ID: r.ID, DisputeID: r.StripeID, UserID: r.UserID, TopupID: r.TopUpID, PaymentIntentID: r.PaymentIntentID,
		AmountCents: r.AmountCents, Currency: r.Currency, Status: r.Status, HeldCents: r.HeldCents, ClosedAt: nonZero(r.ClosedAt),
	}); err != nil {
		return err
	}
	if d.HeldDelta == 0 {
		return nil
	}
	return s.q.AddHeld(ctx, tx, db.AddHeldParams{Amount: d.HeldDelta, UserID: r.UserID})
}

// ListDisputes implements wallet.Store.
func (s *Store) ListDisputes(ctx context.Context, openOnly bool, after paging.Cursor, limit int) ([]wallet.Dispute, error) {
	bt, bid := before(after)
	rows, err := s.q.ListDisputes(ctx, s.pool, db.ListDisputesParams{OpenOnly: openOnly, BeforeCreatedAt: bt, BeforeID: bid, RowLimit: int32(limit)})
	if err != nil {
		return nil, err
	}
	out := make([]wallet.Dispute, len(rows))
	for i, r := range rows {
		out[i] = toDispute(r)
	}
	return out, nil
}

// ListDebts implements wallet.Store.
func (s *Store) ListDebts(ctx context.Context, after paging.Cursor, limit int) ([]wallet.Debt, error) {
	bt, bid := before(after)
	rows, err := s.q.ListDebts(ctx, s.pool, db.ListDebtsParams{BeforeSince: bt, BeforeID: bid, RowLimit: int32(limit)})
	if err != nil {
		return nil, err
	}
	out := make([]wallet.Debt, len(rows))
	for i, r := range rows {
		out[i] = wallet.Debt{Wallet: toWallet(r), InDebtSince: derefTime(r.InDebtSince)}
	}
	return out, nil
}

// Automation implements wallet.Store.
func (s *Store) Automation(ctx context.Context, userID uuid.UUID, limit int) (wallet.Automation, error) {
	var out wallet.Automation
	if acct, err := s.q.GetAccount(ctx, s.pool, userID); err == nil {
		out.InDebtSince = derefTime(acct.InDebtSince)
	}
	rows, err := s.q.ListAutoTopUpCrossings(ctx, s.pool, db.ListAutoTopUpCrossingsParams{UserID: userID, RowLimit: int32(limit)})
	if err != nil {
		return wallet.Automation{}, err
	}
	for _, r := range rows {
		c := r.BalanceCrossing
		rec := wallet.AutoTopUpRecord{Crossing: wallet.Crossing{ID: c.ID, UserID: c.UserID, Kind: c.Kind, HoldID: c.HoldID,
			ThresholdCents: c.ThresholdCents, AvailableCents: c.AvailableCents, Outcome: c.Outcome, TopUpID: derefID(c.TopupID), CreatedAt: c.CreatedAt}}
		if r.TID != nil {
			rec.TopUp = &wallet.TopUp{ID: *r.TID, UserID: c.UserID, AmountCents: deref64(r.TAmountCents), Status: deref(r.TStatus),
				PaymentIntentID: deref(r.TPaymentIntentID), FailureReason: deref(r.TFailureReason), CreditedCents: deref64(r.TCreditedCents),
				Origin: wallet.OriginAuto, CreatedAt: derefTime(r.TCreatedAt)}
		}
		out.AutoTopUps = append(out.AutoTopUps, rec)
	}
	ds, err := s.q.ListUserDisputes(ctx, s.pool, db.ListUserDisputesParams{UserID: userID, RowLimit: int32(limit)})
	if err != nil {
		return wallet.Automation{}, err
	}
	for _, d := range ds {
		out.Disputes = append(out.Disputes, toDispute(d))
	}
	return out, nil
}

func deref64(v *int64) int64 {
	if v == nil {
		return 0
	}
	return *v
}

func toDispute(d db.Dispute) wallet.Dispute {
	return wallet.Dispute{ID: d.ID, StripeID: d.DisputeID, UserID: d.UserID, TopUpID: d.TopupID, PaymentIntentID: d.PaymentIntentID,
		AmountCents: d.AmountCents, Currency: d.Currency, Status: d.Status, HeldCents: d.HeldCents, ClosedAt: derefTime(d.ClosedAt), CreatedAt: d.CreatedAt}
}
