package wallet

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// ReserveRequest is a hold request as received from the workflow service.
type ReserveRequest struct {
	Key         string
	UserID      string
	AmountCents int64
	// ExpiresAt zero means now + HoldDefaultTTL.
	ExpiresAt     time.Time
	Description   string
	ReferenceType string
	ReferenceID   string
}

// Reserve holds an amount against the available balance, idempotent by key.
//
// A hold is open until captured, released, or swept after its expiry. A
// capture that arrives after expires_at but before the sweeper released the
// hold still succeeds: the work it pays for was done while the hold was open,
// and the funds are still reserved.
func (s *Service) Reserve(ctx context.Context, r ReserveRequest) (Hold, error) {
	if err := checkHoldKey(r.Key); err != nil {
		return Hold{}, err
	}
	userID, err := parseID("user_id", r.UserID)
	if err != nil {
		return Hold{}, err
	}
	if r.AmountCents <= 0 {
		return Hold{}, invalid("amount_cents", "must be positive")
	}
	now := s.now()
	exp := r.ExpiresAt
	switch {
	case exp.IsZero():
		exp = now.Add(s.cfg.HoldDefaultTTL)
	case !exp.After(now):
		return Hold{}, invalid("expires_at", "must be in the future")
	case exp.After(now.Add(s.cfg.HoldMaxTTL)):
		return Hold{}, invalid("expires_at", fmt.Sprintf("at most %s from now", s.cfg.HoldMaxTTL))
	}
	for _, f := range []struct{ name, v string }{{"description", r.Description}, {"reference_type", r.ReferenceType}, {"reference_id", r.ReferenceID}} {
		if utf8.RuneCountInString(f.v) > 500 {
			return Hold{}, invalid(f.name, "at most 500 characters")
		}
	}
	h, err := s.store.Reserve(ctx, ReserveInput{
		ID: newID(), Key: r.Key, UserID: userID, AmountCents: r.AmountCents, ExpiresAt: exp,
		Description: r.Description, ReferenceType: r.ReferenceType, ReferenceID: r.ReferenceID,
	})
	if err != nil {
		return Hold{}, fmt.Errorf("reserve: %w", err)
	}
	return h, nil
}

// Capture turns an open hold into a fee, exactly once.
func (s *Service) Capture(ctx context.Context, key string) (Hold, Transaction, error) {
	if err := checkHoldKey(key); err != nil {
		return Hold{}, Transaction{}, err
	}
	h, tx, fresh, err := s.store.Capture(ctx, key)
	if err != nil {
		return Hold{}, Transaction{}, fmt.Errorf("capture: %w", err)
	}
	if fresh {
		s.metrics.Booked(KindFee, tx.AmountCents)
	}
	return h, tx, nil
}

// Release frees an open hold without charging, exactly once.
func (s *Service) Release(ctx context.Context, key string) (Hold, error) {
	if err := checkHoldKey(key); err != nil {
		return Hold{}, err
	}
	h, err := s.store.Release(ctx, key)
	if err != nil {
		return Hold{}, fmt.Errorf("release: %w", err)
	}
	return h, nil
}

func checkHoldKey(k string) error {
	if strings.TrimSpace(k) == "" || len(k) > 255 {
		return invalid("key", "must be 1 to 255 characters")
	}
	return nil
}
