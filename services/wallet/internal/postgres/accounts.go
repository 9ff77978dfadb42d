package postgres

import (
	"context"
	"errors"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/meterflow/meterflow/services/wallet/internal/postgres/db"
	"github.com/meterflow/meterflow/services/wallet/internal/wallet"
)

// GetWallets implements wallet.Store.
func (s *Store) GetWallets(ctx context.Context, userIDs []uuid.UUID) (map[uuid.UUID]wallet.Wallet, error) {
	rows, err := s.q.GetAccounts(ctx, s.pool, userIDs)
	if err != nil {
		return nil, err
	}
	out := make(map[uuid.UUID]wallet.Wallet, len(rows))
	for _, a := range rows {
		out[a.UserID] = toWallet(a)
	}
	return out, nil
}

// GetWallet implements wallet.Store: GetAccount, `user_id = $1`, rather
// than GetWallets' `= ANY($1::uuid[])`, which costs the wallet an array
// parameter's encoding on every read.
func (s *Store) GetWallet(ctx context.Context, userID uuid.UUID) (wallet.Wallet, bool, error) {
	a, err := s.q.GetAccount(ctx, s.pool, userID)
	if errors.Is(err, pgx.ErrNoRows) {
		return wallet.Wallet{}, false, nil
	}
	if err != nil {
		return wallet.Wallet{}, false, err
	}
	return toWallet(a), true, nil
}

// Adjust implements wallet.Store.
func (s *Store) Adjust(ctx context.Context, key wallet.KeyedRequest, userID uuid.UUID, currency string, decide func(wallet.Wallet, uuid.UUID) (wallet.Adjustment, error)) (wallet.Transaction, bool, error) {
	var out wallet.Transaction
	var fresh bool
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		fresh = false
		st, err := s.beginKey(ctx, tx, key)
		if err != nil {
			return err
		}
		if st.Replay {
			row, err := s.q.GetTransaction(ctx, tx, st.ResourceID)
			out = toTransaction(row)
			return err
		}
		if err := s.q.EnsureAccount(ctx, tx, db.EnsureAccountParams{UserID: userID, Currency: currency}); err != nil {
			return err
		}
		acct, err := s.q.LockAccount(ctx, tx, userID)
		if err != nil {
			return err
		}
		a, err := decide(toWallet(acct), st.ResourceID)
		if err != nil {
			return err
		}
		if out, err = s.book(ctx, tx, userID, a.Entry); err != nil {
			return err
		}
		if err := s.afterBooking(ctx, tx, userID, []wallet.Transaction{out}, wallet.TopUpChange{}, &wallet.EventResult{}); err != nil {
			return err
		}
		if err := s.insertAuditEvent(ctx, tx, a.Audit); err != nil {
			return err
		}
		fresh = true
		return s.completeKey(ctx, tx, key.IdempotencyKey, nil)
	})
	if err != nil {
		return wallet.Transaction{}, false, err
	}
	return out, fresh, nil
}

func toWallet(a db.Account) wallet.Wallet {
	return wallet.Wallet{UserID: a.UserID, BalanceCents: a.BalanceCents, HeldCents: a.HeldCents, Currency: a.Currency}
}
