package wallet

import (
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Crossing kinds and outcomes (balance_crossings).
const (
	CrossingLowBalance = "low_balance"
	CrossingAutoTopUp  = "auto_topup"
	// OutcomeNotified: a low-balance crossing (one email, one
	// wallet.low_balance event).
	CrossingNotified = "notified"
	// CrossingCharge: an auto top-up crossing that queued a charge.
	CrossingCharge = "charge"
	// CrossingCapped: an auto top-up crossing that found the month's cap
	// reached: nothing charged, last_error says so.
	CrossingCapped = "capped"
)

// Top-up origins.
const (
	OriginCheckout = "checkout"
	OriginAuto     = "auto"
)

// Crossing is one balance crossing, decided in the capture's transaction.
type Crossing struct {
	ID             uuid.UUID
	UserID         uuid.UUID
	Kind           string
	HoldID         uuid.UUID
	ThresholdCents int64
	AvailableCents int64
	Outcome        string
	// TopUpID is the automatic top-up a CrossingCharge queued.
	TopUpID   uuid.UUID
	CreatedAt time.Time
}

// CrossingInput is what a capture's transaction read after booking the
// fee, with the user's settings row locked.
type CrossingInput struct {
	Hold Hold
	// Wallet is the account after the capture.
	Wallet Wallet
	InDebt bool
	// Settings are the user's, locked until the capture commits.
	Settings Settings
	// AutoMonthCents sums the automatic top-ups of the current UTC month
	// that are pending or paid.
	AutoMonthCents int64
}

// CrossingResult is what the capture's transaction writes besides the fee:
// the crossings, the automatic top-up to charge (queued in the same
// transaction) and the settings with their flags changed.
type CrossingResult struct {
	Crossings []Crossing
	// TopUp is the automatic top-up to insert and charge; nil when none.
	TopUp    *TopUp
	Settings Settings
	// Emails go out with the capture (the low-balance email), and so do
	// Events (wallet.low_balance).
	Emails []Email
	Events []Event
}

// Changed reports whether anything must be written.
func (r CrossingResult) Changed(before Settings) bool {
	return len(r.Crossings) > 0 || r.TopUp != nil || r.Settings.LowBalanceArmed != before.LowBalanceArmed ||
		r.Settings.AutoTopUp.Armed != before.AutoTopUp.Armed || r.Settings.AutoTopUp.LastError != before.AutoTopUp.LastError
}

// decideCrossings is the crossing rule (ADR 0008): a capture that leaves
// the available balance below an armed threshold crosses it, once: the
// settings row is locked by the capture's transaction and the crossing
// disarms it, so of two captures crossing at once only the first finds it
// armed. A low-balance crossing is recorded (an email and a
// wallet.low_balance event); an auto top-up crossing queues one charge of
// the saved card, unless the account is in debt (no automatic charge then)
// or the month's charges would pass the cap.
func (s *Service) decideCrossings(in CrossingInput) CrossingResult {
	st := in.Settings
	res := CrossingResult{Settings: st}
	avail := in.Wallet.AvailableCents()
	now := s.now()
	if t := st.LowBalanceThresholdCents; t != nil && st.LowBalanceArmed && avail < *t {
		res.Settings.LowBalanceArmed = false
		c := Crossing{ID: newID(), UserID: in.Hold.UserID, Kind: CrossingLowBalance, HoldID: in.Hold.ID,
			ThresholdCents: *t, AvailableCents: avail, Outcome: CrossingNotified, CreatedAt: now}
		res.Crossings = append(res.Crossings, c)
		res.Emails = append(res.Emails, s.lowBalanceEmail(c, in.Wallet.Currency))
		res.Events = append(res.Events, lowBalanceEvent(c, in.Wallet))
	}
	a := st.AutoTopUp
	if !a.Enabled || !a.Armed || avail >= a.ThresholdCents || st.Card == nil || in.InDebt {
		return res
	}
	res.Settings.AutoTopUp.Armed = false
	c := Crossing{ID: newID(), UserID: in.Hold.UserID, Kind: CrossingAutoTopUp, HoldID: in.Hold.ID,
		ThresholdCents: a.ThresholdCents, AvailableCents: avail, CreatedAt: now}
	if limit := s.monthlyCap(a); in.AutoMonthCents+a.AmountCents > limit {
		c.Outcome = CrossingCapped
		res.Settings.AutoTopUp.LastError = fmt.Sprintf("monthly_cap_reached: automatic top-ups this month would pass the cap of %d cents; they resume next month", limit)
		res.Crossings = append(res.Crossings, c)
		return res
	}
	c.Outcome, c.TopUpID = CrossingCharge, newID()
	res.Crossings = append(res.Crossings, c)
	res.TopUp = &TopUp{ID: c.TopUpID, UserID: in.Hold.UserID, AmountCents: a.AmountCents, Currency: in.Wallet.Currency,
		Status: TopUpPending, Origin: OriginAuto, CrossingID: c.ID}
	return res
}
