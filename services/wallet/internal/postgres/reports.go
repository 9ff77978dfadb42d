package postgres

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/meterflow/meterflow/services/wallet/internal/postgres/db"
	"github.com/meterflow/meterflow/services/wallet/internal/wallet"
)

// Verify implements wallet.Store: the accounts, then the API key months.
func (s *Store) Verify(ctx context.Context) ([]wallet.Mismatch, error) {
	rows, err := s.q.VerifyAccounts(ctx, s.pool)
	if err != nil {
		return nil, err
	}
	out := make([]wallet.Mismatch, len(rows))
	for i, r := range rows {
		out[i] = wallet.Mismatch{UserID: r.UserID, BalanceCents: r.BalanceCents, LedgerCents: r.LedgerCents,
			HeldCents: r.HeldCents, OpenHoldsCents: r.OpenHoldsCents, DisputeHoldsCents: r.DisputeHoldsCents,
			NegativeWithoutCause: r.BalanceCents < 0 && !r.MayBeNegative}
	}
	auto, err := s.q.VerifyAutomation(ctx, s.pool)
	if err != nil {
		return nil, err
	}
	for _, r := range auto {
		out = append(out, wallet.Mismatch{UserID: r.UserID, Problem: r.Problem})
	}
	keys, err := s.q.VerifyAPIKeySpend(ctx, s.pool)
	if err != nil {
		return nil, err
	}
	for _, r := range keys {
		m := wallet.Mismatch{KeySpend: &wallet.KeySpendMismatch{
			APIKeyID: r.ApiKeyID, Month: r.Month, SpentCents: r.SpentCents, HoldsCents: r.HoldsCents, LimitCents: r.LimitCents,
		}}
		if r.UserID != nil {
			m.UserID = *r.UserID
		}
		out = append(out, m)
	}
	return out, nil
}

// Stats implements wallet.Store.
func (s *Store) Stats(ctx context.Context, today, month time.Time) (wallet.Stats, error) {
	r, err := s.q.Stats(ctx, s.pool, db.StatsParams{Today: today, Month: month})
	if err != nil {
		return wallet.Stats{}, err
	}
	return wallet.Stats{TotalBalanceCents: r.TotalBalanceCents, TotalHeldCents: r.TotalHeldCents, OpenHolds: r.OpenHolds,
		DepositsTodayCents: r.DepositsTodayCents, FeesTodayCents: r.FeesTodayCents,
		Deposits30dCents: r.Deposits30dCents, Fees30dCents: r.Fees30dCents}, nil
}

// OpenHolds returns the number and sum of open holds (the metrics gauge).
func (s *Store) OpenHolds(ctx context.Context) (count, cents int64, err error) {
	r, err := s.q.OpenHolds(ctx, s.pool)
	return r.N, r.Cents, err
}

// HoldsPastExpiry counts the open holds whose expiry is before now (the
// metrics gauge).
func (s *Store) HoldsPastExpiry(ctx context.Context, now time.Time) (int64, error) {
	return s.q.HoldsPastExpiry(ctx, s.pool, now)
}

// AutomationGauges returns the accounts in debt and the open disputes
// (the metrics gauges).
func (s *Store) AutomationGauges(ctx context.Context) (inDebt, openDisputes, openDisputeCents int64, err error) {
	r, err := s.q.AutomationGauges(ctx, s.pool)
	return r.AccountsInDebt, r.OpenDisputes, r.OpenDisputeCents, err
}

// ReconcileTotals returns every fix reconciliation made, the unmatched
// events of its last run and when that run finished (the metrics).
func (s *Store) ReconcileTotals(ctx context.Context) (fixed, lastUnmatched int64, lastFinished time.Time, err error) {
	r, err := s.q.ReconcileTotals(ctx, s.pool)
	return r.Fixed, r.LastUnmatched, r.LastFinishedAt, err
}

// RecordReconcileRun implements wallet.Store.
func (s *Store) RecordReconcileRun(ctx context.Context, r wallet.ReconcileRun) error {
	return s.q.InsertReconcileRun(ctx, s.pool, db.InsertReconcileRunParams{ID: r.ID, Since: r.Since, EventsSeen: int32(r.Seen),
		Fixed: int32(r.Fixed), Unmatched: int32(r.Unmatched), StartedAt: r.StartedAt})
}

// MoneyByDay implements wallet.Store.
func (s *Store) MoneyByDay(ctx context.Context, first, last time.Time) ([]wallet.MoneyDay, error) {
	rows, err := s.q.MoneyByDay(ctx, s.pool, db.MoneyByDayParams{First: first, Last: last})
	if err != nil {
		return nil, err
	}
	out := make([]wallet.MoneyDay, len(rows))
	for i, r := range rows {
		out[i] = wallet.MoneyDay{Day: r.Day.UTC(), DepositsCents: r.DepositsCents, FeesCents: r.FeesCents}
	}
	return out, nil
}

// SpendByDay implements wallet.Store.
func (s *Store) SpendByDay(ctx context.Context, userID uuid.UUID, first, last time.Time) ([]wallet.SpendDay, error) {
	rows, err := s.q.UserSpendByDay(ctx, s.pool, db.UserSpendByDayParams{UserID: userID, First: first, Last: last})
	if err != nil {
		return nil, err
	}
	out := make([]wallet.SpendDay, len(rows))
	for i, r := range rows {
		out[i] = wallet.SpendDay{Day: r.Day.UTC(), SpentCents: r.SpentCents}
	}
	return out, nil
}
