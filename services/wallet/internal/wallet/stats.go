package wallet

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/meterflow/meterflow/platform/validation"
)

// Bounds of the daily series.
const (
	// DefaultStatsDays is a user's series when the request names no length.
	DefaultStatsDays = 30
	// MaxStatsDays bounds every daily series (one year and a day).
	MaxStatsDays = 366
)

// MoneyDay is one UTC day of the ledger: deposits credited and fees
// collected (positive).
type MoneyDay struct {
	Day           time.Time
	DepositsCents int64
	FeesCents     int64
}

// SpendDay is what one user's runs cost on one UTC day: the fees
// captured (failed runs cost nothing).
type SpendDay struct {
	Day        time.Time
	SpentCents int64
}

// Stats returns the admin console's totals; "today" starts at 00:00 UTC.
// With days > 0 it adds deposits and fees per UTC day for the last days
// days, today included (at most MaxStatsDays).
func (s *Service) Stats(ctx context.Context, days int) (Stats, error) {
	now := s.now().UTC()
	if days < 0 || days > MaxStatsDays {
		return Stats{}, validation.Field("days", "must be between 0 and 366")
	}
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	st, err := s.store.Stats(ctx, today, now.Add(-30*24*time.Hour))
	if err != nil {
		return Stats{}, fmt.Errorf("stats: %w", err)
	}
	if days > 0 {
		if st.ByDay, err = s.store.MoneyByDay(ctx, today.AddDate(0, 0, 1-days), today); err != nil {
			return Stats{}, fmt.Errorf("money by day: %w", err)
		}
	}
	return st, nil
}

// SpendByDay returns the user's fees per UTC day for the last days days,
// today included (0 means DefaultStatsDays); every day is there, oldest
// first.
func (s *Service) SpendByDay(ctx context.Context, userID uuid.UUID, days int) ([]SpendDay, error) {
	if days == 0 {
		days = DefaultStatsDays
	}
	if days < 1 || days > MaxStatsDays {
		return nil, validation.Field("days", "must be between 1 and 366")
	}
	now := s.now().UTC()
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	out, err := s.store.SpendByDay(ctx, userID, today.AddDate(0, 0, 1-days), today)
	if err != nil {
		return nil, fmt.Errorf("spend by day: %w", err)
	}
	return out, nil
}
