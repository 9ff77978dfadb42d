package postgres

import (
	"context"
	"errors"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/meterflow/meterflow/services/wallet/internal/postgres/db"
	"github.com/meterflow/meterflow/services/wallet/internal/wallet"
)

// GetSettings implements wallet.Store.
func (s *Store) GetSettings(ctx context.Context, userID uuid.UUID) (wallet.Settings, bool, error) {
	row, err := s.q.GetSettings(ctx, s.pool, userID)
	if errors.Is(err, pgx.ErrNoRows) {
		return wallet.Settings{}, false, nil
	}
	if err != nil {
		return wallet.Settings{}, false, err
	}
	return toSettings(row), true, nil
}

// lockSettings creates the user's settings from defaults when missing and
// locks them.
func (s *Store) lockSettings(ctx context.Context, tx pgx.Tx, defaults wallet.Settings) (db.WalletSetting, error) {
	if err := s.q.EnsureSettings(ctx, tx, db.EnsureSettingsParams{
		UserID: defaults.UserID, AutoTopupThresholdCents: defaults.AutoTopUp.ThresholdCents, AutoTopupAmountCents: defaults.AutoTopUp.AmountCents,
	}); err != nil {
		return db.WalletSetting{}, err
	}
	return s.q.LockSettings(ctx, tx, defaults.UserID)
}

// UpdateSettings implements wallet.Store. The account is read, not locked:
// lock order is the account before the settings (a capture), never back.
func (s *Store) UpdateSettings(ctx context.Context, defaults wallet.Settings, decide func(wallet.Settings, wallet.Wallet) (wallet.Settings, error)) (wallet.Settings, error) {
	var out wallet.Settings
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		row, err := s.lockSettings(ctx, tx, defaults)
		if err != nil {
			return err
		}
		w := wallet.Wallet{UserID: defaults.UserID}
		acct, err := s.q.GetAccount(ctx, tx, defaults.UserID)
		switch {
		case err == nil:
			w = toWallet(acct)
		case !errors.Is(err, pgx.ErrNoRows):
			return err
		}
		next, err := decide(toSettings(row), w)
		if err != nil {
			return err
		}
		out, err = s.writeSettings(ctx, tx, next)
		return err
	})
	return out, err
}

// SetCustomer implements wallet.Store.
func (s *Store) SetCustomer(ctx context.Context, defaults wallet.Settings, customerID string) (wallet.Settings, error) {
	var out wallet.Settings
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := s.lockSettings(ctx, tx, defaults); err != nil {
			return err
		}
		row, err := s.q.SetCustomer(ctx, tx, db.SetCustomerParams{CustomerID: customerID, UserID: defaults.UserID})
		out = toSettings(row)
		return err
	})
	return out, err
}

// ApplySettingsEvent implements wallet.Store.
func (s *Store) ApplySettingsEvent(ctx context.Context, ev wallet.EventRef, defaults wallet.Settings, decide func(wallet.Settings) (wallet.Settings, error)) (wallet.EventResult, error) {
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
		row, err := s.lockSettings(ctx, tx, defaults)
		if err != nil {
			return err
		}
		next, err := decide(toSettings(row))
		if errors.Is(err, wallet.ErrNotOurs) {
			res.Outcome = wallet.OutcomeUnmatched
			return errRollback
		}
		if err != nil {
			return err
		}
		written, err := s.writeSettings(ctx, tx, next)
		res.Outcome = wallet.OutcomeNoChange
		if !sameCard(written.Card, toSettings(row).Card) {
			res.Outcome = wallet.OutcomeApplied
		}
		return err
	})
	if errors.Is(err, errRollback) {
		err = nil
	}
	return res, err
}

func sameCard(a, b *wallet.Card) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// ClearPaymentMethod implements wallet.Store.
func (s *Store) ClearPaymentMethod(ctx context.Context, userID uuid.UUID) (string, error) {
	pm, err := s.q.ClearPaymentMethod(ctx, s.pool, userID)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	return deref(pm), err
}

// InDebt implements wallet.Store.
func (s *Store) InDebt(ctx context.Context, userID uuid.UUID) (bool, error) {
	acct, err := s.q.GetAccount(ctx, s.pool, userID)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	return err == nil && acct.InDebtSince != nil, err
}

// writeSettings writes st over the locked row.
func (s *Store) writeSettings(ctx context.Context, tx pgx.Tx, st wallet.Settings) (wallet.Settings, error) {
	p := db.WriteSettingsParams{
		UserID: st.UserID, LowBalanceThresholdCents: st.LowBalanceThresholdCents, LowBalanceArmed: st.LowBalanceArmed,
		AutoTopupEnabled: st.AutoTopUp.Enabled, AutoTopupThresholdCents: st.AutoTopUp.ThresholdCents,
		AutoTopupAmountCents: st.AutoTopUp.AmountCents, AutoTopupArmed: st.AutoTopUp.Armed,
		AutoTopupFailures: int32(st.AutoTopUp.Failures), AutoTopupLastError: nonEmpty(st.AutoTopUp.LastError),
	}
	if c := st.Card; c != nil {
		p.PaymentMethodID, p.CardBrand, p.CardLast4 = &c.PaymentMethodID, c.Brand, c.Last4
		p.CardExpMonth, p.CardExpYear, p.PaymentMethodSetAt = int32(c.ExpMonth), int32(c.ExpYear), nonZero(st.CardSetAt)
	}
	row, err := s.q.WriteSettings(ctx, tx, p)
	if err != nil {
		return wallet.Settings{}, err
	}
	return toSettings(row), nil
}

func toSettings(r db.WalletSetting) wallet.Settings {
	st := wallet.Settings{
		UserID: r.UserID, LowBalanceThresholdCents: r.LowBalanceThresholdCents, LowBalanceArmed: r.LowBalanceArmed,
		AutoTopUp: wallet.AutoTopUp{
			Enabled: r.AutoTopupEnabled, ThresholdCents: r.AutoTopupThresholdCents, AmountCents: r.AutoTopupAmountCents,
			Armed: r.AutoTopupArmed, MonthlyCapCents: r.AutoTopupMonthlyCapCents, Failures: int(r.AutoTopupFailures),
			LastError: deref(r.AutoTopupLastError),
		},
		CustomerID: deref(r.StripeCustomerID), CardSetAt: derefTime(r.PaymentMethodSetAt),
	}
	if r.PaymentMethodID != nil {
		st.Card = &wallet.Card{PaymentMethodID: *r.PaymentMethodID, Brand: r.CardBrand, Last4: r.CardLast4,
			ExpMonth: int(r.CardExpMonth), ExpYear: int(r.CardExpYear)}
	}
	return st
}
