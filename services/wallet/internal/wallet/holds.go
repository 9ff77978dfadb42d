package wallet

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/meterflow/meterflow/platform/idempotency"
	"github.com/meterflow/meterflow/platform/validation"
)

// maxTextRunes bounds the free texts a caller gives (reasons, descriptions,
// references).
const maxTextRunes = 500

// descriptionFee is a fee's description when its hold has none.
const descriptionFee = "Workflow run fee"

// ReserveRequest is a hold request as received from the workflow service.
type ReserveRequest struct {
	Key         string
	UserID      uuid.UUID
	AmountCents int64
	// ExpiresAt zero means now + HoldDefaultTTL.
	ExpiresAt     time.Time
	Description   string
	ReferenceType string
	ReferenceID   string
	// APIKeyID is the API key the run was started with; uuid.Nil for none.
	// The hold then counts towards the key's spend in the current UTC
	// month, which may not exceed APIKeyLimitCents (nil: no limit).
	APIKeyID         uuid.UUID
	APIKeyLimitCents *int64
}

// Reserve holds an amount against the available balance, idempotent by key:
// a key used before answers with its hold, whatever its state, when user
// and amount match, else idempotency.ErrKeyReused. The rule "the available
// balance covers the hold" runs in Postgres (reserve_hold, ADR 0010), so
// that a reserve is one statement on the account's locked row.
//
// A hold is open until captured, released, or swept after its expiry. A
// capture that arrives after expires_at but before the sweeper released the
// hold still succeeds: the work it pays for was done while the hold was open,
// and the funds are still reserved.
//
// A hold made for an API key's run also counts towards the key's month
// (KeyMonth): when it would take the month over the key's limit, Reserve
// is ErrSpendLimitExceeded and nothing is held. That rule runs in the same
// statement as the balance's, on the key month's locked row.
func (s *Service) Reserve(ctx context.Context, r ReserveRequest) (Hold, error) {
	exp, err := s.checkReserve(r)
	if err != nil {
		return Hold{}, err
	}
	in := ReserveInput{
		ID: newID(), Key: r.Key, UserID: r.UserID, AmountCents: r.AmountCents, ExpiresAt: exp,
		Description: r.Description, ReferenceType: r.ReferenceType, ReferenceID: r.ReferenceID,
		APIKeyID: r.APIKeyID, LimitCents: r.APIKeyLimitCents,
	}
	if r.APIKeyID != uuid.Nil {
		in.SpendMonth = MonthOf(s.now())
	}
	h, err := s.store.Reserve(ctx, in)
	if err != nil {
		return Hold{}, fmt.Errorf("reserve: %w", err)
	}
	if h.ID != in.ID && (h.UserID != in.UserID || h.AmountCents != in.AmountCents || h.APIKeyID != in.APIKeyID) {
		return Hold{}, fmt.Errorf("reserve: %w", idempotency.ErrKeyReused)
	}
	return h, nil
}

// checkReserve validates r and returns its expiry.
func (s *Service) checkReserve(r ReserveRequest) (time.Time, error) {
	if err := checkHoldKey(r.Key); err != nil {
		return time.Time{}, err
	}
	if r.UserID == uuid.Nil {
		return time.Time{}, validation.Field("user_id", "must be a UUID")
	}
	if r.AmountCents <= 0 {
		return time.Time{}, validation.Field("amount_cents", "must be positive")
	}
	now := s.now()
	exp := r.ExpiresAt
	switch {
	case exp.IsZero():
		exp = now.Add(s.cfg.HoldDefaultTTL)
	case !exp.After(now):
		return time.Time{}, validation.Field("expires_at", "must be in the future")
	case exp.After(now.Add(s.cfg.HoldMaxTTL)):
		return time.Time{}, validation.Field("expires_at", fmt.Sprintf("at most %s from now", s.cfg.HoldMaxTTL))
	}
	if r.APIKeyLimitCents != nil && (r.APIKeyID == uuid.Nil || *r.APIKeyLimitCents < 0) {
		return time.Time{}, validation.Field("api_key_monthly_limit_cents", "must be at least 0, and only with an api_key_id")
	}
	for _, f := range []struct{ name, v string }{{"description", r.Description}, {"reference_type", r.ReferenceType}, {"reference_id", r.ReferenceID}} {
		if utf8.RuneCountInString(f.v) > maxTextRunes {
			return time.Time{}, validation.Field(f.name, "at most 500 characters")
		}
	}
	return exp, nil
}

// Capture turns an open hold into a fee, exactly once: a repeated capture
// answers with the same hold and fee, a capture of a released hold is
// ErrHoldConflict.
func (s *Service) Capture(ctx context.Context, key string) (Hold, Transaction, error) {
	if err := checkHoldKey(key); err != nil {
		return Hold{}, Transaction{}, err
	}
	feeID := newID()
	res, err := s.store.CaptureHold(ctx, key, func(h Hold) (Settlement, error) {
		apply, err := settle(h, HoldCaptured)
		return Settlement{Apply: apply, Fee: feeFor(h, feeID), Cross: s.decideCrossings, AutoMonth: MonthOf(s.now())}, err
	})
	if err != nil {
		return Hold{}, Transaction{}, fmt.Errorf("capture: %w", err)
	}
	if res.Fresh {
		s.metrics.Booked(KindFee, res.Fee.AmountCents)
	}
	for _, c := range res.Crossings {
		s.metrics.Crossing(c.Kind, c.Outcome)
		s.log.InfoContext(ctx, "balance crossed a threshold", "user_id", c.UserID, "kind", c.Kind, "outcome", c.Outcome,
			"threshold_cents", c.ThresholdCents, "available_cents", c.AvailableCents, "topup_id", c.TopUpID)
	}
	return res.Hold, res.Fee, nil
}

// Release frees an open hold without charging, exactly once: a repeated
// release answers with the same hold, a release of a captured hold is
// ErrHoldConflict.
func (s *Service) Release(ctx context.Context, key string) (Hold, error) {
	if err := checkHoldKey(key); err != nil {
		return Hold{}, err
	}
	h, err := s.store.ReleaseHold(ctx, key, func(h Hold) (Settlement, error) {
		apply, err := settle(h, HoldReleased)
		return Settlement{Apply: apply}, err
	})
	if err != nil {
		return Hold{}, fmt.Errorf("release: %w", err)
	}
	return h, nil
}

// settle decides a capture or release (to) of h: an open hold ends now
// (apply); one that already ended this way is a repeat, answered as the
// first call was; one that ended the other way is ErrHoldConflict.
func settle(h Hold, to string) (apply bool, err error) {
	switch h.Status {
	case HoldHeld:
		return true, nil
	case to:
		return false, nil
	}
	return false, ErrHoldConflict
}

// feeFor is the ledger row that capturing h books: the hold's amount, its
// description (or descriptionFee) and references, and the source key
// fee:<hold id>, which the ledger holds once, so a hold is never charged
// twice and a repeated capture finds the fee.
func feeFor(h Hold, id uuid.UUID) LedgerEntry {
	desc := h.Description
	if desc == "" {
		desc = descriptionFee
	}
	return LedgerEntry{
		ID: id, Kind: KindFee, AmountCents: -h.AmountCents, Description: desc,
		ReferenceType: h.ReferenceType, ReferenceID: h.ReferenceID, SourceKey: "fee:" + h.ID.String(),
	}
}

func checkHoldKey(k string) error {
	if strings.TrimSpace(k) == "" || len(k) > 255 {
		return validation.Field("key", "must be 1 to 255 characters")
	}
	return nil
}
