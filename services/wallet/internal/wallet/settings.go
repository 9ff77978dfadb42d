package wallet

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/meterflow/meterflow/platform/validation"
)

// Defaults of a user's auto top-up before they chose their own: shown by
// GET /v1/wallet/settings, used when a PATCH enables it without them.
const (
	DefaultAutoTopUpThresholdCents = 500
	DefaultAutoTopUpAmountCents    = 2000
	// AutoTopUpMaxFailures failed automatic charges in a row switch auto
	// top-up off.
	AutoTopUpMaxFailures = 3
)

// Settings are a user's wallet automation settings and saved card.
type Settings struct {
	UserID uuid.UUID
	// LowBalanceThresholdCents is nil when no low-balance email is wanted.
	LowBalanceThresholdCents *int64
	// LowBalanceArmed: a capture that finds the available balance below the
	// threshold records a crossing (and disarms); a credit back to the
	// threshold or above arms it again.
	LowBalanceArmed bool
	AutoTopUp       AutoTopUp
	// CustomerID is the wallet's Stripe Customer ("" until the first card
	// setup).
	CustomerID string
	// Card is the saved card; nil when none.
	Card *Card
	// CardSetAt is when Stripe created the setup session of Card.
	CardSetAt time.Time
}

// AutoTopUp is the auto top-up part of Settings.
type AutoTopUp struct {
	Enabled        bool
	ThresholdCents int64
	AmountCents    int64
	// Armed works as Settings.LowBalanceArmed does, for the auto top-up's
	// threshold.
	Armed bool
	// MonthlyCapCents caps the automatic charges of a UTC month; nil means
	// the configured multiple of AmountCents.
	MonthlyCapCents *int64
	// Failures counts failed automatic charges in a row.
	Failures  int
	LastError string
}

// Card is what the user is shown of a saved card.
type Card struct {
	PaymentMethodID string
	Brand           string
	Last4           string
	ExpMonth        int
	ExpYear         int
}

// SettingsUpdate is a PATCH of the settings; nil fields stay as they are.
type SettingsUpdate struct {
	// LowBalanceThresholdCents sets the threshold; ClearLowBalance removes it.
	LowBalanceThresholdCents *int64
	ClearLowBalance          bool
	AutoTopUpEnabled         *bool
	AutoTopUpThresholdCents  *int64
	AutoTopUpAmountCents     *int64
}

// defaultSettings are the settings of a user who has no row yet.
func (s *Service) defaultSettings(userID uuid.UUID) Settings {
	amount := min(max(DefaultAutoTopUpAmountCents, s.cfg.TopUpMinCents), s.cfg.TopUpMaxCents)
	return Settings{UserID: userID, LowBalanceArmed: true,
		AutoTopUp: AutoTopUp{ThresholdCents: DefaultAutoTopUpThresholdCents, AmountCents: amount, Armed: true}}
}

// MonthlyCapCents is the cap on the automatic charges of a month.
func (s *Service) monthlyCap(a AutoTopUp) int64 {
	if a.MonthlyCapCents != nil {
		return *a.MonthlyCapCents
	}
	return a.AmountCents * s.cfg.AutoTopUpCapMultiple
}

// GetSettings returns the user's settings (the defaults when none were saved).
func (s *Service) GetSettings(ctx context.Context, userID uuid.UUID) (Settings, error) {
	st, found, err := s.store.GetSettings(ctx, userID)
	if err != nil {
		return Settings{}, fmt.Errorf("get settings: %w", err)
	}
	if !found {
		return s.defaultSettings(userID), nil
	}
	return st, nil
}

// UpdateSettings applies a PATCH. Enabling auto top-up needs a saved card
// (ErrNoPaymentMethod); the amount must be a valid top-up amount. A new
// threshold arms its crossing again when the available balance is at or
// above it.
func (s *Service) UpdateSettings(ctx context.Context, userID uuid.UUID, u SettingsUpdate) (Settings, error) {
	if err := s.checkUpdate(u); err != nil {
		return Settings{}, err
	}
	st, err := s.store.UpdateSettings(ctx, s.defaultSettings(userID), func(cur Settings, w Wallet) (Settings, error) {
		return decideUpdate(cur, w, u)
	})
	if err != nil {
		return Settings{}, fmt.Errorf("update settings: %w", err)
	}
	return st, nil
}

func (s *Service) checkUpdate(u SettingsUpdate) error {
	if u.LowBalanceThresholdCents != nil && (*u.LowBalanceThresholdCents < 0 || *u.LowBalanceThresholdCents > maxStripeAmountCents) {
		return validation.Field("low_balance_threshold_cents", "must be at least 0, or null to switch the email off")
	}
	if u.AutoTopUpThresholdCents != nil && (*u.AutoTopUpThresholdCents < 0 || *u.AutoTopUpThresholdCents > maxStripeAmountCents) {
		return validation.Field("auto_topup.threshold_cents", "must be at least 0")
	}
	if a := u.AutoTopUpAmountCents; a != nil && (*a < s.cfg.TopUpMinCents || *a > s.cfg.TopUpMaxCents) {
		return validation.Field("auto_topup.amount_cents", fmt.Sprintf("must be between %d and %d", s.cfg.TopUpMinCents, s.cfg.TopUpMaxCents))
	}
	return nil
}

// decideUpdate applies u to cur, given the wallet w as it is now.
func decideUpdate(cur Settings, w Wallet, u SettingsUpdate) (Settings, error) {
	next := cur
	if u.ClearLowBalance {
		next.LowBalanceThresholdCents = nil
	} else if u.LowBalanceThresholdCents != nil {
		v := *u.LowBalanceThresholdCents
		next.LowBalanceThresholdCents = &v
	}
	if u.AutoTopUpThresholdCents != nil {
		next.AutoTopUp.ThresholdCents = *u.AutoTopUpThresholdCents
	}
	if u.AutoTopUpAmountCents != nil {
		next.AutoTopUp.AmountCents = *u.AutoTopUpAmountCents
	}
	if u.AutoTopUpEnabled != nil {
		if *u.AutoTopUpEnabled && cur.Card == nil {
			return Settings{}, ErrNoPaymentMethod
		}
		if *u.AutoTopUpEnabled && !cur.AutoTopUp.Enabled {
			// Switched on again: a fresh start, and armed, so the next
			// capture below the threshold charges.
			next.AutoTopUp.Failures, next.AutoTopUp.LastError, next.AutoTopUp.Armed = 0, "", true
		}
		next.AutoTopUp.Enabled = *u.AutoTopUpEnabled
	}
	if t := next.LowBalanceThresholdCents; t != nil && (cur.LowBalanceThresholdCents == nil || *t != *cur.LowBalanceThresholdCents) {
		next.LowBalanceArmed = w.AvailableCents() >= *t
	}
	if next.AutoTopUp.ThresholdCents != cur.AutoTopUp.ThresholdCents {
		next.AutoTopUp.Armed = true
	}
	return next, nil
}

// Rearm arms the crossings whose threshold the available balance of w
// is at or above again: called after every credit (a deposit, an
// adjustment, a released dispute hold), in its transaction.
func Rearm(st Settings, w Wallet) Settings {
	if t := st.LowBalanceThresholdCents; t != nil && !st.LowBalanceArmed && w.AvailableCents() >= *t {
		st.LowBalanceArmed = true
	}
	if !st.AutoTopUp.Armed && w.AvailableCents() >= st.AutoTopUp.ThresholdCents {
		st.AutoTopUp.Armed = true
	}
	return st
}
