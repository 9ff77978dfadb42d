package postgres

import (
	"context"
	"errors"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/meterflow/meterflow/platform/paging"
	"github.com/meterflow/meterflow/services/wallet/internal/postgres/db"
	"github.com/meterflow/meterflow/services/wallet/internal/wallet"
)

// CreateTopUp implements wallet.Store.
func (s *Store) CreateTopUp(ctx context.Context, t wallet.TopUp) (wallet.TopUp, error) {
	row, err := s.q.GetTopUp(ctx, s.pool, t.ID)
	if err == nil {
		return toTopUp(row), nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return wallet.TopUp{}, err
	}
	row, err = s.q.InsertTopUp(ctx, s.pool, db.InsertTopUpParams{ID: t.ID, UserID: t.UserID, AmountCents: t.AmountCents, Currency: t.Currency})
	if err != nil {
		return wallet.TopUp{}, err
	}
	return toTopUp(row), nil
}

// AttachCheckoutSession implements wallet.Store.
func (s *Store) AttachCheckoutSession(ctx context.Context, topUpID uuid.UUID, sess wallet.CheckoutSession, key *wallet.IdempotencyKey, response []byte) (wallet.TopUp, error) {
	var row db.Topup
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		row, err = s.q.SetTopUpSession(ctx, tx, db.SetTopUpSessionParams{
			CheckoutSessionID: &sess.ID, CheckoutUrl: sess.URL, PaymentIntentID: nonEmpty(sess.PaymentIntentID), ID: topUpID,
		})
		if err != nil || key == nil {
			return err
		}
		return s.completeKey(ctx, tx, *key, response)
	})
	if err != nil {
		return wallet.TopUp{}, err
	}
	return toTopUp(row), nil
}

// AbandonTopUp implements wallet.Store.
func (s *Store) AbandonTopUp(ctx context.Context, topUpID uuid.UUID, key *wallet.IdempotencyKey) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if err := s.q.FailPendingTopUp(ctx, tx, topUpID); err != nil || key == nil {
			return err
		}
		return s.forgetKey(ctx, tx, *key)
	})
}

// GetTopUp implements wallet.Store.
func (s *Store) GetTopUp(ctx context.Context, id uuid.UUID) (wallet.TopUp, error) {
	row, err := s.q.GetTopUp(ctx, s.pool, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return wallet.TopUp{}, wallet.ErrNotFound
	}
	if err != nil {
		return wallet.TopUp{}, err
	}
	return toTopUp(row), nil
}

// ListParkedTopUps implements wallet.Store.
func (s *Store) ListParkedTopUps(ctx context.Context, after paging.Cursor, limit int) ([]wallet.TopUp, error) {
	bt, bid := before(after)
	rows, err := s.q.ListParkedTopUps(ctx, s.pool, db.ListParkedTopUpsParams{BeforeParkedAt: bt, BeforeID: bid, RowLimit: int32(limit)})
	if err != nil {
		return nil, err
	}
	out := make([]wallet.TopUp, len(rows))
	for i, r := range rows {
		out[i] = toTopUp(r)
	}
	return out, nil
}

// ApplyTopUpEvent implements wallet.Store.
func (s *Store) ApplyTopUpEvent(ctx context.Context, ev wallet.EventRef, find wallet.TopUpLookup, decide func(wallet.TopUp, wallet.Dispute) (wallet.TopUpChange, error)) (wallet.EventResult, error) {
	var res wallet.EventResult
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		res = wallet.EventResult{}
		dup, err := s.recordEvent(ctx, tx, ev)
		if err != nil {
			return err
		}
		if dup {
			res.Outcome = wallet.OutcomeDuplicate
			return errRollback
		}
		row, err := s.lockTopUp(ctx, tx, find)
		if errors.Is(err, pgx.ErrNoRows) {
			res.Outcome = wallet.OutcomeUnmatched
			return errRollback
		}
		if err != nil {
			return err
		}
		res.TopUp = toTopUp(row)
		var disp wallet.Dispute
		if find.DisputeID != "" {
			d, err := s.q.LockDispute(ctx, tx, find.DisputeID)
			switch {
			case err == nil:
				disp = toDispute(d)
			case !errors.Is(err, pgx.ErrNoRows):
				return err
			}
		}
		change, err := decide(res.TopUp, disp)
		if errors.Is(err, wallet.ErrNotOurs) {
			res.Outcome = wallet.OutcomeUnmatched
			return errRollback
		}
		if err != nil {
			return err
		}
		res.Outcome, err = s.applyTopUpChange(ctx, tx, row, change, &res)
		return err
	})
	if errors.Is(err, errRollback) {
		err = nil
	}
	if err != nil {
		return wallet.EventResult{}, err
	}
	return res, nil
}

// recordEvent records a Stripe event id once: dup is true when it was
// recorded before. An EventRef without ID records nothing.
func (s *Store) recordEvent(ctx context.Context, tx pgx.Tx, ev wallet.EventRef) (dup bool, err error) {
	if ev.ID == "" {
		return false, nil
	}
	source := ev.Source
	if source == "" {
		source = wallet.SourceWebhook
	}
	n, err := s.q.InsertStripeEvent(ctx, tx, db.InsertStripeEventParams{EventID: ev.ID, Type: ev.Type, Source: source})
	return n == 0, err
}

// LinkPaymentIntent implements wallet.Store.
func (s *Store) LinkPaymentIntent(ctx context.Context, topUpID uuid.UUID, paymentIntentID string) error {
	return s.q.LinkPaymentIntent(ctx, s.pool, db.LinkPaymentIntentParams{PaymentIntentID: paymentIntentID, ID: topUpID})
}

// lockTopUp locks the top-up an event is about, found by the first field
// of find that is set.
func (s *Store) lockTopUp(ctx context.Context, tx pgx.Tx, find wallet.TopUpLookup) (db.Topup, error) {
	switch {
	case find.CheckoutSessionID != "":
		return s.q.LockTopUpBySession(ctx, tx, &find.CheckoutSessionID)
	case find.PaymentIntentID != "":
		return s.q.LockTopUpByPaymentIntent(ctx, tx, &find.PaymentIntentID)
	}
	return s.q.LockTopUp(ctx, tx, find.TopUpID)
}

// applyTopUpChange writes a decided change to the locked top-up row and
// books its entries, then its dispute row and held amount, then what
// AfterBooking decides, then the change's webhook events, filling res. An entry already in the ledger means
// an earlier event applied this whole change: nothing is written
// (OutcomeDuplicate, errRollback).
func (s *Store) applyTopUpChange(ctx context.Context, tx pgx.Tx, row db.Topup, change wallet.TopUpChange, res *wallet.EventResult) (string, error) {
	for _, e := range change.Entries {
		exists, err := s.q.SourceKeyExists(ctx, tx, &e.SourceKey)
		if err != nil {
			return "", err
		}
		if exists {
			return wallet.OutcomeDuplicate, errRollback
		}
	}
	updated, err := s.q.UpdateTopUpState(ctx, tx, db.UpdateTopUpStateParams{
		Status: change.Status, PaymentIntentID: nonEmpty(change.PaymentIntentID),
		CreditedCents: change.CreditedCents, CreditedAt: nonZero(change.CreditedAt),
		AmountRefundedCents: change.AmountRefundedCents, ChargebackCents: change.ChargebackCents,
		ParkedAt: nonZero(change.ParkedAt), ParkedReason: change.ParkedReason, FailureReason: change.FailureReason, ID: row.ID,
	})
	if err != nil {
		return "", err
	}
	res.TopUp = toTopUp(updated)
	if len(change.Entries) > 0 || change.Dispute != nil {
		if err := s.q.EnsureAccount(ctx, tx, db.EnsureAccountParams{UserID: row.UserID, Currency: row.Currency}); err != nil {
			return "", err
		}
	}
	for _, e := range change.Entries {
		t, err := s.book(ctx, tx, row.UserID, e)
		if err != nil {
			return "", err
		}
		res.Written = append(res.Written, t)
	}
	if d := change.Dispute; d != nil {
		if err := s.writeDispute(ctx, tx, *d); err != nil {
			return "", err
		}
	}
	if len(change.Entries) > 0 || change.Dispute != nil || change.AutoTopUp != nil {
		if err := s.afterBooking(ctx, tx, row.UserID, res.Written, change, res); err != nil {
			return "", err
		}
	}
	if err := s.enqueueEvents(ctx, tx, change.Events); err != nil {
		return "", err
	}
	if len(res.Written) > 0 || updated.Status != row.Status || change.Dispute != nil {
		return wallet.OutcomeApplied, nil
	}
	return wallet.OutcomeNoChange, nil
}

// afterBooking writes what wallet.AfterBooking decides on the account after
// the change and the user's settings (locked after the account).
func (s *Store) afterBooking(ctx context.Context, tx pgx.Tx, userID uuid.UUID, written []wallet.Transaction, change wallet.TopUpChange, res *wallet.EventResult) error {
	in := wallet.BookedInput{Entries: written, AutoTopUp: change.AutoTopUp, Emails: change.Emails, Wallet: wallet.Wallet{UserID: userID}}
	acct, err := s.q.GetAccount(ctx, tx, userID)
	hasAccount := err == nil
	switch {
	case hasAccount:
		in.Wallet, in.InDebt = toWallet(acct), acct.InDebtSince != nil
	case !errors.Is(err, pgx.ErrNoRows):
		return err
	}
	row, err := s.q.LockSettings(ctx, tx, userID)
	switch {
	case err == nil:
		st := toSettings(row)
		in.Settings = &st
	case !errors.Is(err, pgx.ErrNoRows):
		return err
	}
	out := wallet.AfterBooking(in)
	if hasAccount && out.InDebt != in.InDebt {
		if err := s.q.SetInDebt(ctx, tx, db.SetInDebtParams{InDebt: out.InDebt, UserID: userID}); err != nil {
			return err
		}
	}
	if out.Settings != nil {
		if _, err := s.writeSettings(ctx, tx, *out.Settings); err != nil {
			return err
		}
	}
	res.InDebt, res.SwitchedOff = out.InDebt, out.SwitchedOff
	return s.enqueueEmails(ctx, tx, out.Emails)
}

func toTopUp(t db.Topup) wallet.TopUp {
	return wallet.TopUp{ID: t.ID, UserID: t.UserID, AmountCents: t.AmountCents, Currency: t.Currency, Status: t.Status,
		CheckoutSessionID: deref(t.CheckoutSessionID), CheckoutURL: t.CheckoutUrl, PaymentIntentID: deref(t.PaymentIntentID),
		CreditedCents: t.CreditedCents, Credited: t.CreditedAt != nil, CreditedAt: derefTime(t.CreditedAt),
		AmountRefundedCents: t.AmountRefundedCents, ChargebackCents: t.ChargebackCents,
		ParkedAt: derefTime(t.ParkedAt), ParkedReason: t.ParkedReason, Origin: t.Origin, CrossingID: derefID(t.CrossingID),
		FailureReason: t.FailureReason, CreatedAt: t.CreatedAt}
}
