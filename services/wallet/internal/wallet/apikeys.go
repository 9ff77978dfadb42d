package wallet

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/meterflow/meterflow/platform/paging"
	"github.com/meterflow/meterflow/platform/validation"
)

// KeyMonth is an API key's spend in one UTC calendar month: the fees held
// or captured for the key's runs reserved in that month.
type KeyMonth struct {
	SpentCents int64
	// LimitCents is the key's monthly spend limit; nil: none.
	LimitCents *int64
}

// Allows reports whether a hold of cents fits in the month: the rule of
// every reserve for an API key's run. It is enforced inside reserve_hold,
// on the month's locked row (ADR 0010), and held against this function by
// the store's tests.
func (m KeyMonth) Allows(cents int64) bool {
	return m.LimitCents == nil || m.SpentCents+cents <= *m.LimitCents
}

// MonthOf is the first instant of t's UTC calendar month: the month a hold
// reserved at t counts towards, and gives back to when released, whenever
// that happens.
func MonthOf(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// KeySpend is one API key's spend in Month.
type KeySpend struct {
	APIKeyID   uuid.UUID
	Month      time.Time
	SpentCents int64
}

// APIKeySpend returns the current UTC month's spend of each of keyIDs
// (at most paging.MaxLimit): 0 for a key that spent nothing, and for a key
// that is not userID's, so nobody learns another user's spend.
func (s *Service) APIKeySpend(ctx context.Context, userID uuid.UUID, keyIDs []uuid.UUID) ([]KeySpend, error) {
	if len(keyIDs) > paging.MaxLimit {
		return nil, validation.Field("api_key_ids", fmt.Sprintf("at most %d", paging.MaxLimit))
	}
	month := MonthOf(s.now())
	spent, err := s.store.APIKeySpend(ctx, userID, month, keyIDs)
	if err != nil {
		return nil, fmt.Errorf("api key spend: %w", err)
	}
	out := make([]KeySpend, len(keyIDs))
	for i, id := range keyIDs {
		out[i] = KeySpend{APIKeyID: id, Month: month, SpentCents: spent[id]}
	}
	return out, nil
}

// KeySpendMismatch is an API key's month that breaks an invariant: its
// spend is not the sum of its held and captured holds, or it is over the
// limit the last reserve saw.
type KeySpendMismatch struct {
	APIKeyID   uuid.UUID
	Month      time.Time
	SpentCents int64
	HoldsCents int64
	LimitCents *int64
}
