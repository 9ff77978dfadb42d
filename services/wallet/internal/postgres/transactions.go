package postgres

import (
	"context"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/meterflow/meterflow/services/wallet/internal/postgres/db"
	"github.com/meterflow/meterflow/services/wallet/internal/wallet"
)

// ListTransactions implements wallet.Store.
func (s *Store) ListTransactions(ctx context.Context, f wallet.TransactionFilter) ([]wallet.Transaction, error) {
	bt, bid := before(f.After)
	var rows []db.Transaction
	var err error
	if f.UserID != nil && f.Query == "" && f.CreatedFrom.IsZero() && f.CreatedTo.IsZero() {
		rows, err = s.q.ListUserTransactions(ctx, s.pool, db.ListUserTransactionsParams{
			UserID: *f.UserID, Kind: f.Kind, BeforeCreatedAt: bt, BeforeID: bid, RowLimit: int32(f.Limit),
		})
	} else {
		from, to := f.CreatedFrom, f.CreatedTo
		if from.IsZero() {
			from = farPast
		}
		if to.IsZero() {
			to = farFuture
		}
		rows, err = s.q.ListAllTransactions(ctx, s.pool, db.ListAllTransactionsParams{
			UserID: f.UserID, Kind: f.Kind, Query: f.Query, CreatedFrom: from, CreatedTo: to,
			BeforeCreatedAt: bt, BeforeID: bid, RowLimit: int32(f.Limit),
		})
	}
	if err != nil {
		return nil, err
	}
	out := make([]wallet.Transaction, len(rows))
	for i, r := range rows {
		out[i] = toTransaction(r)
	}
	return out, nil
}

// book writes entry e to userID's existing account inside tx: the balance
// change and the ledger row with the balance after it. Whether the change
// is allowed was decided before (an adjustment's debit must fit; a Stripe
// debit may take the balance below zero: the money has already left).
func (s *Store) book(ctx context.Context, tx pgx.Tx, userID uuid.UUID, e wallet.LedgerEntry) (wallet.Transaction, error) {
	acct, err := s.q.AddBalance(ctx, tx, db.AddBalanceParams{Amount: e.AmountCents, UserID: userID})
	if err != nil {
		return wallet.Transaction{}, err
	}
	row, err := s.q.InsertTransaction(ctx, tx, db.InsertTransactionParams{
		ID: e.ID, UserID: userID, Kind: e.Kind, AmountCents: e.AmountCents, BalanceAfterCents: acct.BalanceCents,
		Description: e.Description, ReferenceType: e.ReferenceType, ReferenceID: e.ReferenceID, SourceKey: nonEmpty(e.SourceKey),
	})
	if err != nil {
		return wallet.Transaction{}, err
	}
	return toTransaction(row), nil
}

func toTransaction(t db.Transaction) wallet.Transaction {
	return wallet.Transaction{ID: t.ID, UserID: t.UserID, Kind: t.Kind, AmountCents: t.AmountCents, BalanceAfterCents: t.BalanceAfterCents,
		Description: t.Description, ReferenceType: t.ReferenceType, ReferenceID: t.ReferenceID, CreatedAt: t.CreatedAt}
}
