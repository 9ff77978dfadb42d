package wallet

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/meterflow/meterflow/platform/paging"
)

// automationHistory is how many auto top-up crossings and disputes an
// operator's view of one user shows.
const automationHistory = 20

// AdminAutomation is an operator's view of one user's automation.
type AdminAutomation struct {
	Settings Settings
	// MonthlyCapCents is the cap in force; ChargedThisMonthCents what the
	// automatic top-ups of this UTC month (pending or paid) add up to.
	MonthlyCapCents       int64
	ChargedThisMonthCents int64
	Automation
}

// AdminGetAutomation returns a user's settings, saved card, auto top-up
// history, disputes and debt flag.
func (s *Service) AdminGetAutomation(ctx context.Context, userID uuid.UUID) (AdminAutomation, error) {
	st, err := s.GetSettings(ctx, userID)
	if err != nil {
		return AdminAutomation{}, err
	}
	a, err := s.store.Automation(ctx, userID, automationHistory)
	if err != nil {
		return AdminAutomation{}, fmt.Errorf("automation: %w", err)
	}
	out := AdminAutomation{Settings: st, MonthlyCapCents: s.monthlyCap(st.AutoTopUp), Automation: a}
	month := MonthOf(s.now())
	for _, r := range a.AutoTopUps {
		if t := r.TopUp; t != nil && !t.CreatedAt.Before(month) && (t.Status == TopUpPending || t.Status == TopUpPaid) {
			out.ChargedThisMonthCents += t.AmountCents
		}
	}
	return out, nil
}

// AdminListDisputes pages disputes, newest first; openOnly keeps the open ones.
func (s *Service) AdminListDisputes(ctx context.Context, openOnly bool, limit int, cursor string) ([]Dispute, string, error) {
	n, err := paging.Limit(limit)
	if err != nil {
		return nil, "", err
	}
	after, err := paging.ParseCursor(cursor)
	if err != nil {
		return nil, "", err
	}
	rows, err := s.store.ListDisputes(ctx, openOnly, after, n+1)
	if err != nil {
		return nil, "", fmt.Errorf("list disputes: %w", err)
	}
	rows, next := paging.Trim(rows, n, func(d Dispute) paging.Cursor { return paging.Cursor{CreatedAt: d.CreatedAt, ID: d.ID} })
	return rows, next, nil
}

// AdminListDebts pages the accounts in debt, most recently flagged first.
func (s *Service) AdminListDebts(ctx context.Context, limit int, cursor string) ([]Debt, string, error) {
	n, err := paging.Limit(limit)
	if err != nil {
		return nil, "", err
	}
	after, err := paging.ParseCursor(cursor)
	if err != nil {
		return nil, "", err
	}
	rows, err := s.store.ListDebts(ctx, after, n+1)
	if err != nil {
		return nil, "", fmt.Errorf("list debts: %w", err)
	}
	rows, next := paging.Trim(rows, n, func(d Debt) paging.Cursor { return paging.Cursor{CreatedAt: d.InDebtSince, ID: d.Wallet.UserID} })
	return rows, next, nil
}
