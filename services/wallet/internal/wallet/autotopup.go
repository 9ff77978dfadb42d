package wallet

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"

	"github.com/google/uuid"
)

// Metadata set on the PaymentIntent of an automatic top-up (besides
// topup_id and user_id): its events are told from a Checkout payment's by it.
const MetadataAutoTopUp = "auto_topup"

// Reasons of a failed automatic top-up that did not come from Stripe.
const (
	reasonSwitchedOff = "auto_topup_off: auto top-up was switched off, the card removed or the account flagged before the charge"
	reasonUnreachable = "provider_unreachable: Stripe could not be reached for the automatic charge"
)

// AutoTopUpResult is the outcome of an automatic charge, applied to the
// settings in the transaction that records it.
type AutoTopUpResult struct {
	Succeeded bool
	// Error is the failure's last_error (code: message).
	Error string
	// Counted: the failure counts towards AutoTopUpMaxFailures (Stripe
	// refused the card; not when the charge was called off).
	Counted bool
}

// BookedInput is what a transaction that changed an account reads last:
// the account after its ledger rows, and the user's settings, locked (nil
// when the user has none).
type BookedInput struct {
	Wallet Wallet
	InDebt bool
	// Entries are the rows just booked.
	Entries   []Transaction
	Settings  *Settings
	AutoTopUp *AutoTopUpResult
	// Emails are the change's emails, completed here.
	Emails []Email
}

// BookedResult is what such a transaction writes last.
type BookedResult struct {
	InDebt bool
	// Settings are the new settings (nil: none, or unchanged).
	Settings *Settings
	// SwitchedOff: this failure switched auto top-up off.
	SwitchedOff bool
	// Emails to enqueue in the transaction.
	Emails []Email
}

// AfterBooking decides the account flag and the settings after ledger rows
// were booked (the store calls it in the same transaction):
//   - a chargeback that leaves the balance below zero flags the account as
//     in debt; a balance back at zero or above clears the flag;
//   - a credit re-arms the crossings whose threshold it reaches (Rearm);
//   - an automatic charge's outcome: success resets the failures; a failure
//     records last_error and re-arms (the next capture below the threshold
//     tries again), and the third in a row switches auto top-up off.
func AfterBooking(in BookedInput) BookedResult {
	out := afterBooking(in)
	out.Emails = completeEmails(in.Emails, out, in.Settings)
	return out
}

func afterBooking(in BookedInput) BookedResult {
	out := BookedResult{InDebt: in.InDebt}
	for _, t := range in.Entries {
		if t.Kind == KindChargeback && in.Wallet.BalanceCents < 0 {
			out.InDebt = true
		}
	}
	if in.Wallet.BalanceCents >= 0 {
		out.InDebt = false
	}
	if in.Settings == nil {
		return out
	}
	st := *in.Settings
	credited := false
	for _, t := range in.Entries {
		credited = credited || t.AmountCents > 0
	}
	if credited {
		st = Rearm(st, in.Wallet)
	}
	if r := in.AutoTopUp; r != nil {
		switch {
		case r.Succeeded:
			st.AutoTopUp.Failures, st.AutoTopUp.LastError = 0, ""
		default:
			st.AutoTopUp.LastError, st.AutoTopUp.Armed = r.Error, true
			if r.Counted {
				st.AutoTopUp.Failures++
			}
			if st.AutoTopUp.Enabled && st.AutoTopUp.Failures >= AutoTopUpMaxFailures {
				st.AutoTopUp.Enabled, out.SwitchedOff = false, true
			}
		}
	}
	out.Settings = &st
	return out
}

// completeEmails fills what only the end of the transaction knows into
// the failed-charge emails: the failures in a row and whether auto top-up
// was switched off.
func completeEmails(emails []Email, out BookedResult, st *Settings) []Email {
	for i, e := range emails {
		if e.Template != TemplateAutoTopUpFailed {
			continue
		}
		failures := 0
		if out.Settings != nil {
			failures = out.Settings.AutoTopUp.Failures
		} else if st != nil {
			failures = st.AutoTopUp.Failures
		}
		e.Data["failures"], e.Data["switched_off"] = strconv.Itoa(failures), strconv.FormatBool(out.SwitchedOff)
		emails[i] = e
	}
	return emails
}

// notify adds the emails and events a change to top-up t sends: a receipt
// and a topup.paid event for every deposit (a top-up has at most one: the
// credit of its payment), and the failed-charge email for an automatic
// charge Stripe refused.
func (s *Service) notify(t TopUp, c TopUpChange) TopUpChange {
	for _, e := range c.Entries {
		if e.Kind == KindDeposit {
			c.Emails = append(c.Emails, s.receiptEmail(t, e.AmountCents, c.PaymentIntentID))
			paid := t
			paid.Status = c.Status
			at := c.CreditedAt
			if at.IsZero() {
				at = s.now()
			}
			c.Events = append(c.Events, topUpPaidEvent(paid, at))
		}
	}
	if r := c.AutoTopUp; r != nil && !r.Succeeded && r.Counted {
		c.Emails = append(c.Emails, s.failedEmail(t, r.Error))
	}
	return c
}

// AutoTopUpIdempotencyKey is the Stripe idempotency key of an automatic
// top-up's PaymentIntent: derived from the top-up, which its crossing
// created once, so a retried job, a second replica or a process that died
// after calling Stripe always gets Stripe's first PaymentIntent back.
func AutoTopUpIdempotencyKey(topUpID uuid.UUID) string {
	sum := sha256.Sum256([]byte("auto-topup\x00" + topUpID.String()))
	return "meterflow-autotopup-" + hex.EncodeToString(sum[:16])
}

// ChargeAutoTopUp makes the off-session charge of an automatic top-up (the
// job its crossing queued). It calls Stripe only while the top-up is
// pending without a PaymentIntent, with the top-up's idempotency key. A
// card Stripe refuses (declined, authentication required) fails the
// top-up through the same path as payment_intent.payment_failed. An error
// means Stripe did not answer: the job retries; last is its final
// attempt, after which the top-up fails.
func (s *Service) ChargeAutoTopUp(ctx context.Context, topUpID uuid.UUID, last bool) error {
	t, err := s.store.GetTopUp(ctx, topUpID)
	if errors.Is(err, ErrNotFound) {
		s.log.ErrorContext(ctx, "automatic top-up job for an unknown top-up; dropped", "topup_id", topUpID)
		return nil
	}
	if err != nil {
		return fmt.Errorf("auto top-up %s: %w", topUpID, err)
	}
	if t.Origin != OriginAuto || t.Status != TopUpPending || t.PaymentIntentID != "" {
		return nil // charged already (or not an automatic top-up)
	}
	st, _, err := s.store.GetSettings(ctx, t.UserID)
	if err != nil {
		return fmt.Errorf("auto top-up %s: settings: %w", topUpID, err)
	}
	w, err := s.GetWallet(ctx, t.UserID)
	if err != nil {
		return err
	}
	inDebt, err := s.store.InDebt(ctx, t.UserID)
	if err != nil {
		return err
	}
	if !st.AutoTopUp.Enabled || st.Card == nil || st.CustomerID == "" || inDebt || w.BalanceCents < 0 {
		return s.failAutoTopUp(ctx, t, "", AutoTopUpResult{Error: reasonSwitchedOff})
	}
	pi, err := s.payments.ChargeOffSession(ctx, OffSessionCharge{
		TopUpID: t.ID, UserID: t.UserID, CustomerID: st.CustomerID, PaymentMethodID: st.Card.PaymentMethodID,
		AmountCents: t.AmountCents, Currency: t.Currency, IdempotencyKey: AutoTopUpIdempotencyKey(t.ID),
	})
	var refused *CardRefusal
	switch {
	case errors.As(err, &refused):
		s.log.WarnContext(ctx, "automatic top-up refused by Stripe", "topup_id", t.ID, "user_id", t.UserID, "code", refused.Code, "payment_intent", refused.PaymentIntentID)
		return s.failAutoTopUp(ctx, t, refused.PaymentIntentID, AutoTopUpResult{Error: refused.Reason(), Counted: true})
	case err != nil && last:
		s.log.ErrorContext(ctx, "automatic top-up: Stripe did not answer on the last attempt; the top-up fails", "topup_id", t.ID, "err", err)
		return s.failAutoTopUp(ctx, t, "", AutoTopUpResult{Error: reasonUnreachable, Counted: true})
	case err != nil:
		return fmt.Errorf("auto top-up %s: %w", t.ID, err)
	}
	if err := s.store.LinkPaymentIntent(ctx, t.ID, pi.ID); err != nil {
		return fmt.Errorf("auto top-up %s: record PaymentIntent %s: %w", t.ID, pi.ID, err)
	}
	s.log.InfoContext(ctx, "automatic top-up charged off-session; credited on payment_intent.succeeded",
		"topup_id", t.ID, "user_id", t.UserID, "amount_cents", t.AmountCents, "payment_intent", pi.ID, "status", pi.Status)
	return nil
}

// failAutoTopUp fails a pending automatic top-up once, through the event
// path without an event record (a payment_intent.payment_failed for the
// same PaymentIntent then changes nothing).
func (s *Service) failAutoTopUp(ctx context.Context, t TopUp, pi string, r AutoTopUpResult) error {
	res, err := s.store.ApplyTopUpEvent(ctx, EventRef{}, TopUpLookup{TopUpID: t.ID}, func(t TopUp, _ Dispute) (TopUpChange, error) {
		return s.notify(t, decideAutoFailure(t, pi, r)), nil
	})
	if err != nil {
		return fmt.Errorf("auto top-up %s: record failure: %w", t.ID, err)
	}
	s.reportAutoTopUp(ctx, res)
	return nil
}

// decideAutoFailure fails a pending automatic top-up with r.
func decideAutoFailure(t TopUp, pi string, r AutoTopUpResult) TopUpChange {
	c := unchanged(t)
	if t.Status != TopUpPending {
		return c
	}
	if c.PaymentIntentID == "" {
		c.PaymentIntentID = pi
	}
	c.Status, c.FailureReason, c.AutoTopUp = TopUpFailed, r.Error, &r
	return c
}

// reportAutoTopUp logs what an automatic top-up's outcome changed.
func (s *Service) reportAutoTopUp(ctx context.Context, res EventResult) {
	if res.SwitchedOff {
		s.log.WarnContext(ctx, "auto top-up switched off after failed charges in a row", "user_id", res.TopUp.UserID,
			"failures", AutoTopUpMaxFailures, "last_error", res.TopUp.FailureReason)
	}
	if res.TopUp.Status == TopUpFailed && res.Outcome == OutcomeApplied {
		s.metrics.AutoTopUp("failed")
	}
	if res.TopUp.Status == TopUpPaid && res.Outcome == OutcomeApplied {
		s.metrics.AutoTopUp("succeeded")
	}
}

// OffSessionCharge asks the provider to charge a saved card without the
// customer (PaymentIntent with off_session=true, confirm=true).
type OffSessionCharge struct {
	TopUpID         uuid.UUID
	UserID          uuid.UUID
	CustomerID      string
	PaymentMethodID string
	AmountCents     int64
	Currency        string
	IdempotencyKey  string
}

// PaymentIntent is the provider's answer to a charge.
type PaymentIntent struct {
	ID     string
	Status string
}

// CardRefusal is the provider's refusal of an off-session charge: a
// decline, or a card that needs its holder (authentication_required).
type CardRefusal struct {
	PaymentIntentID string
	Code            string
	DeclineCode     string
	Message         string
}

func (e *CardRefusal) Error() string { return "card refused: " + e.Reason() }

// Reason is the refusal as last_error shows it: "code: message".
func (e *CardRefusal) Reason() string {
	code := e.Code
	if e.DeclineCode != "" && e.DeclineCode != e.Code {
		code += "/" + e.DeclineCode
	}
	if e.Message == "" {
		return code
	}
	return code + ": " + e.Message
}
