// Package postgres is the wallet's Store on Postgres: sqlc queries (db/) run
// on the pool or inside a transaction, and Postgres errors mapped to the
// wallet package's errors.
package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/meterflow/meterflow/platform/database"
	"github.com/meterflow/meterflow/services/wallet/internal/postgres/db"
	"github.com/meterflow/meterflow/services/wallet/internal/wallet"
)

// Store implements wallet.Store.
type Store struct {
	pool *pgxpool.Pool
	q    *db.Queries
}

var _ wallet.Store = (*Store)(nil)

// New returns a Store on pool.
func New(pool *pgxpool.Pool) *Store { return &Store{pool: pool, q: db.New()} }

// errRollback ends a transaction without error: the outcome is already known
// and nothing must be written.
var errRollback = errors.New("rollback")

// inTx runs fn in a transaction, retried after a deadlock or
// serialization failure (database.Retry).
func (s *Store) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return database.Retry(ctx, func() error { return database.InTx(ctx, s.pool, fn) })
}

// isInsufficientFunds reports reserve_hold's refusal (SQLSTATE MF001).
func isInsufficientFunds(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "MF001"
}

func isForeignKeyViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23503"
}

// Far ends of keyset ranges when a filter or cursor is absent.
var (
	farPast   = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	farFuture = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	maxUUID   = uuid.Max
)

func before(c wallet.Cursor) (time.Time, uuid.UUID) {
	if c.IsZero() {
		return farFuture, maxUUID
	}
	return c.CreatedAt, c.ID
}

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

// Reserve implements wallet.Store.
func (s *Store) Reserve(ctx context.Context, in wallet.ReserveInput) (wallet.Hold, error) {
	// One statement (reserve_hold): the account row is locked only for its
	// own UPDATE and the commit, not across round trips.
	var h db.Hold
	err := database.Retry(ctx, func() error {
		var err error
		h, err = s.q.ReserveHold(ctx, s.pool, db.ReserveHoldParams{
			ID: in.ID, Key: in.Key, UserID: in.UserID, AmountCents: in.AmountCents, ExpiresAt: in.ExpiresAt,
			Description: in.Description, ReferenceType: in.ReferenceType, ReferenceID: in.ReferenceID,
		})
		return err
	})
	switch {
	case isInsufficientFunds(err), isForeignKeyViolation(err): // no account yet: nothing to reserve
		return wallet.Hold{}, wallet.ErrInsufficientFunds
	case err != nil:
		return wallet.Hold{}, err
	}
	if h.ID != in.ID && (h.UserID != in.UserID || h.AmountCents != in.AmountCents) {
		return wallet.Hold{}, wallet.ErrIdempotencyKeyReused
	}
	return toHold(h), nil
}

// Capture implements wallet.Store.
func (s *Store) Capture(ctx context.Context, key string) (wallet.Hold, wallet.Transaction, bool, error) {
	var row db.CaptureHoldRow
	err := database.Retry(ctx, func() error {
		var err error
		row, err = s.q.CaptureHold(ctx, s.pool, db.CaptureHoldParams{Key: key, FeeID: newID(), DefaultDescription: "Workflow run fee"})
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		// Not open: captured before (answer the same fee), released, or unknown.
		h, err := s.closedHold(ctx, key, wallet.HoldReleased)
		if err != nil {
			return wallet.Hold{}, wallet.Transaction{}, false, err
		}
		fee, err := s.q.GetTransactionBySourceKey(ctx, s.pool, ptr(feeKey(h.ID)))
		if err != nil {
			return wallet.Hold{}, wallet.Transaction{}, false, err
		}
		return toHold(h), toTransaction(fee), false, nil
	}
	if err != nil {
		return wallet.Hold{}, wallet.Transaction{}, false, err
	}
	fee := db.Transaction{ID: row.ID, UserID: row.UserID, Kind: row.Kind, AmountCents: row.AmountCents,
		BalanceAfterCents: row.BalanceAfterCents, Description: row.Description, ReferenceType: row.ReferenceType,
		ReferenceID: row.ReferenceID, SourceKey: row.SourceKey, CreatedAt: row.CreatedAt}
	h := wallet.Hold{ID: row.HoldID, Key: row.HoldKey, UserID: row.UserID, AmountCents: -row.AmountCents,
		Status: wallet.HoldCaptured, ExpiresAt: row.HoldExpiresAt, Description: row.HoldDescription,
		ReferenceType: row.ReferenceType, ReferenceID: row.ReferenceID, CreatedAt: row.HoldCreatedAt}
	return h, toTransaction(fee), true, nil
}

func feeKey(holdID uuid.UUID) string { return "fee:" + holdID.String() }

// closedHold looks up the hold key that a capture or release found no
// longer open: ErrNotFound when there is none, ErrHoldConflict when it
// ended the other way (conflicting).
func (s *Store) closedHold(ctx context.Context, key, conflicting string) (db.Hold, error) {
	h, err := s.q.GetHoldByKey(ctx, s.pool, key)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return db.Hold{}, wallet.ErrNotFound
	case err != nil:
		return db.Hold{}, err
	case h.Status == conflicting:
		return db.Hold{}, wallet.ErrHoldConflict
	}
	return h, nil
}

// Release implements wallet.Store.
func (s *Store) Release(ctx context.Context, key string) (wallet.Hold, error) {
	var row db.ReleaseHoldRow
	err := database.Retry(ctx, func() error {
		var err error
		row, err = s.q.ReleaseHold(ctx, s.pool, key)
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		// Not open: released before (answer it again), captured, or unknown.
		h, err := s.closedHold(ctx, key, wallet.HoldCaptured)
		if err != nil {
			return wallet.Hold{}, err
		}
		return toHold(h), nil
	}
	if err != nil {
		return wallet.Hold{}, err
	}
	return toHold(db.Hold(row)), nil
}

// ReleaseExpiredHolds implements wallet.Store. Accounts are updated in user
// id order so two sweepers never lock the same accounts in opposite orders.
func (s *Store) ReleaseExpiredHolds(ctx context.Context, now time.Time, limit int) (int, error) {
	n := 0
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		holds, err := s.q.LockExpiredHolds(ctx, tx, db.LockExpiredHoldsParams{Now: now, RowLimit: int32(limit)})
		if err != nil {
			return err
		}
		perUser := map[uuid.UUID]int64{}
		for _, h := range holds {
			if err := s.q.ReleaseHoldByID(ctx, tx, h.ID); err != nil {
				return err
			}
			perUser[h.UserID] += h.AmountCents
		}
		users := make([]uuid.UUID, 0, len(perUser))
		for u := range perUser {
			users = append(users, u)
		}
		slices.SortFunc(users, func(a, b uuid.UUID) int { return slices.Compare(a[:], b[:]) })
		for _, u := range users {
			if _, err := s.q.UnholdFunds(ctx, tx, db.UnholdFundsParams{Amount: perUser[u], UserID: u}); err != nil {
				return err
			}
		}
		n = len(holds)
		return nil
	})
	return n, err
}

// BeginIdempotent implements wallet.Store.
func (s *Store) BeginIdempotent(ctx context.Context, in wallet.IdempotencyBegin) (wallet.IdempotencyState, error) {
	k := in.IdempotencyKey
	for attempt := 0; attempt < 3; attempt++ {
		n, err := s.q.InsertIdempotencyKey(ctx, s.pool, db.InsertIdempotencyKeyParams{
			UserID: k.UserID, Scope: k.Scope, Key: k.Key, RequestHash: in.RequestHash, ResourceID: &in.ResourceID,
		})
		if err != nil {
			return wallet.IdempotencyState{}, err
		}
		if n == 1 {
			return wallet.IdempotencyState{ResourceID: in.ResourceID}, nil
		}
		row, err := s.q.GetIdempotencyKey(ctx, s.pool, db.GetIdempotencyKeyParams{UserID: k.UserID, Scope: k.Scope, Key: k.Key})
		if errors.Is(err, pgx.ErrNoRows) {
			continue // deleted in between (abandoned or expired): try to insert again
		}
		if err != nil {
			return wallet.IdempotencyState{}, err
		}
		expired := row.CreatedAt.Before(in.ExpiredBefore)
		stale := row.Status == "processing" && row.UpdatedAt.Before(in.StaleBefore)
		switch {
		case !expired && string(row.RequestHash) != string(in.RequestHash):
			return wallet.IdempotencyState{}, wallet.ErrIdempotencyKeyReused
		case !expired && row.Status == "completed":
			return wallet.IdempotencyState{Replay: row.Response}, nil
		case !expired && !stale:
			return wallet.IdempotencyState{}, wallet.ErrRequestInProgress
		}
		claimed, err := s.q.ClaimIdempotencyKey(ctx, s.pool, db.ClaimIdempotencyKeyParams{
			RequestHash: in.RequestHash, ExpiredBefore: in.ExpiredBefore, NewResourceID: &in.ResourceID,
			UserID: k.UserID, Scope: k.Scope, Key: k.Key, StaleBefore: in.StaleBefore,
		})
		if errors.Is(err, pgx.ErrNoRows) {
			continue // someone else claimed or completed it: look again
		}
		if err != nil {
			return wallet.IdempotencyState{}, err
		}
		id := in.ResourceID
		if claimed.ResourceID != nil {
			id = *claimed.ResourceID
		}
		return wallet.IdempotencyState{ResourceID: id}, nil
	}
	return wallet.IdempotencyState{}, wallet.ErrRequestInProgress
}

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
		if err != nil {
			return err
		}
		if key != nil {
			return s.q.CompleteIdempotencyKey(ctx, tx, db.CompleteIdempotencyKeyParams{UserID: key.UserID, Scope: key.Scope, Key: key.Key, Response: response})
		}
		return nil
	})
	if err != nil {
		return wallet.TopUp{}, err
	}
	return toTopUp(row), nil
}

// AbandonTopUp implements wallet.Store.
func (s *Store) AbandonTopUp(ctx context.Context, topUpID uuid.UUID, key *wallet.IdempotencyKey) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if err := s.q.FailPendingTopUp(ctx, tx, topUpID); err != nil {
			return err
		}
		if key != nil {
			return s.q.DeleteIdempotencyKey(ctx, tx, db.DeleteIdempotencyKeyParams{UserID: key.UserID, Scope: key.Scope, Key: key.Key})
		}
		return nil
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
func (s *Store) ListParkedTopUps(ctx context.Context, after wallet.Cursor, limit int) ([]wallet.TopUp, error) {
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

// DeleteExpiredIdempotencyKeys implements wallet.Store.
func (s *Store) DeleteExpiredIdempotencyKeys(ctx context.Context, before time.Time) (int64, error) {
	return s.q.DeleteExpiredIdempotencyKeys(ctx, s.pool, before)
}

// ApplyTopUpEvent implements wallet.Store.
func (s *Store) ApplyTopUpEvent(ctx context.Context, ev wallet.EventRef, find wallet.TopUpLookup, decide func(wallet.TopUp) (wallet.TopUpChange, error)) (wallet.EventResult, error) {
	var res wallet.EventResult
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		res = wallet.EventResult{}
		n, err := s.q.InsertStripeEvent(ctx, tx, db.InsertStripeEventParams{EventID: ev.ID, Type: ev.Type})
		if err != nil {
			return err
		}
		if n == 0 {
			res.Outcome = wallet.OutcomeDuplicate
			return errRollback
		}
		var row db.Topup
		switch {
		case find.CheckoutSessionID != "":
			row, err = s.q.LockTopUpBySession(ctx, tx, &find.CheckoutSessionID)
		case find.PaymentIntentID != "":
			row, err = s.q.LockTopUpByPaymentIntent(ctx, tx, &find.PaymentIntentID)
		default:
			row, err = s.q.LockTopUp(ctx, tx, find.TopUpID)
		}
		if errors.Is(err, pgx.ErrNoRows) {
			res.Outcome = wallet.OutcomeUnmatched
			return errRollback
		}
		if err != nil {
			return err
		}
		t := toTopUp(row)
		res.TopUp = t
		change, err := decide(t)
		if errors.Is(err, wallet.ErrNotOurs) {
			res.Outcome = wallet.OutcomeUnmatched
			return errRollback
		}
		if err != nil {
			return err
		}
		for _, e := range change.Entries {
			exists, err := s.q.SourceKeyExists(ctx, tx, &e.SourceKey)
			if err != nil {
				return err
			}
			if exists { // booked by an earlier event: the whole change was applied then
				res.Outcome = wallet.OutcomeDuplicate
				return errRollback
			}
		}
		updated, err := s.q.UpdateTopUpState(ctx, tx, db.UpdateTopUpStateParams{
			Status: change.Status, PaymentIntentID: nonEmpty(change.PaymentIntentID),
			CreditedCents: change.CreditedCents, CreditedAt: setOnce(row.CreditedAt, change.Credited),
			AmountRefundedCents: change.AmountRefundedCents, ChargebackCents: change.ChargebackCents,
			ParkedAt: setOnce(row.ParkedAt, change.Status == wallet.TopUpParked), ParkedReason: change.ParkedReason, ID: row.ID,
		})
		if err != nil {
			return err
		}
		res.TopUp = toTopUp(updated)
		for _, e := range change.Entries {
			t, err := s.book(ctx, tx, row.UserID, row.Currency, e)
			if err != nil {
				return err
			}
			res.Written = append(res.Written, t)
		}
		res.Outcome = wallet.OutcomeNoChange
		if len(res.Written) > 0 || updated.Status != row.Status {
			res.Outcome = wallet.OutcomeApplied
		}
		return nil
	})
	if errors.Is(err, errRollback) {
		err = nil
	}
	if err != nil {
		return wallet.EventResult{}, err
	}
	return res, nil
}

// setOnce keeps a time already set, or sets it to now when set is true.
func setOnce(at *time.Time, set bool) *time.Time {
	if at != nil || !set {
		return at
	}
	now := time.Now()
	return &now
}

// book writes one ledger entry and its balance change. Only Stripe-driven
// debits come through here: they may take the balance below zero because the
// money has already left.
func (s *Store) book(ctx context.Context, tx pgx.Tx, userID uuid.UUID, currency string, e wallet.LedgerEntry) (wallet.Transaction, error) {
	if err := s.q.EnsureAccount(ctx, tx, db.EnsureAccountParams{UserID: userID, Currency: currency}); err != nil {
		return wallet.Transaction{}, err
	}
	acct, err := s.q.AddBalance(ctx, tx, db.AddBalanceParams{Amount: e.AmountCents, UserID: userID})
	if err != nil {
		return wallet.Transaction{}, err
	}
	row, err := s.q.InsertTransaction(ctx, tx, db.InsertTransactionParams{
		ID: newID(), UserID: userID, Kind: e.Kind, AmountCents: e.AmountCents, BalanceAfterCents: acct.BalanceCents,
		Description: e.Description, ReferenceType: e.ReferenceType, ReferenceID: e.ReferenceID, SourceKey: nonEmpty(e.SourceKey),
	})
	if err != nil {
		return wallet.Transaction{}, err
	}
	return toTransaction(row), nil
}

type balanceSnapshot struct {
	BalanceCents int64 `json:"balance_cents"`
	HeldCents    int64 `json:"held_cents"`
}

// Adjust implements wallet.Store.
func (s *Store) Adjust(ctx context.Context, in wallet.AdjustInput) (wallet.Transaction, error) {
	var out db.Transaction
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if in.Key != "" {
			n, err := s.q.InsertIdempotencyKey(ctx, tx, db.InsertIdempotencyKeyParams{
				UserID: in.ActorID, Scope: wallet.ScopeAdjustment, Key: in.Key, RequestHash: in.RequestHash, ResourceID: &in.ID,
			})
			if err != nil {
				return err
			}
			if n == 0 {
				// The first request committed (its insert made us wait until then).
				row, err := s.q.GetIdempotencyKey(ctx, tx, db.GetIdempotencyKeyParams{UserID: in.ActorID, Scope: wallet.ScopeAdjustment, Key: in.Key})
				if err != nil {
					return err
				}
				if string(row.RequestHash) != string(in.RequestHash) || row.ResourceID == nil {
					return wallet.ErrIdempotencyKeyReused
				}
				out, err = s.q.GetTransaction(ctx, tx, *row.ResourceID)
				if err != nil {
					return err
				}
				return errRollback
			}
		}
		if err := s.q.EnsureAccount(ctx, tx, db.EnsureAccountParams{UserID: in.UserID, Currency: in.Currency}); err != nil {
			return err
		}
		prev, err := s.q.LockAccount(ctx, tx, in.UserID)
		if err != nil {
			return err
		}
		var acct db.Account
		if in.AmountCents < 0 {
			acct, err = s.q.AddBalanceIfAvailable(ctx, tx, db.AddBalanceIfAvailableParams{Amount: in.AmountCents, UserID: in.UserID})
			if errors.Is(err, pgx.ErrNoRows) {
				return wallet.ErrInsufficientFunds
			}
		} else {
			acct, err = s.q.AddBalance(ctx, tx, db.AddBalanceParams{Amount: in.AmountCents, UserID: in.UserID})
		}
		if err != nil {
			return err
		}
		out, err = s.q.InsertTransaction(ctx, tx, db.InsertTransactionParams{
			ID: in.ID, UserID: in.UserID, Kind: wallet.KindAdjustment, AmountCents: in.AmountCents,
			BalanceAfterCents: acct.BalanceCents, Description: in.Reason,
			ReferenceType: "admin", ReferenceID: in.ActorID.String(),
		})
		if err != nil {
			return err
		}
		beforeJSON, _ := json.Marshal(balanceSnapshot{BalanceCents: prev.BalanceCents, HeldCents: prev.HeldCents})
		afterJSON, _ := json.Marshal(balanceSnapshot{BalanceCents: acct.BalanceCents, HeldCents: acct.HeldCents})
		if _, err := s.q.InsertAuditEvent(ctx, tx, db.InsertAuditEventParams{
			ID: in.AuditID, ActorID: in.ActorID, Action: "wallet.adjust", TargetType: "user", TargetID: in.UserID.String(),
			Reason: in.Reason, Before: beforeJSON, After: afterJSON,
		}); err != nil {
			return err
		}
		if in.Key != "" {
			return s.q.CompleteIdempotencyKey(ctx, tx, db.CompleteIdempotencyKeyParams{UserID: in.ActorID, Scope: wallet.ScopeAdjustment, Key: in.Key})
		}
		return nil
	})
	if errors.Is(err, errRollback) {
		err = nil
	}
	if err != nil {
		return wallet.Transaction{}, err
	}
	return toTransaction(out), nil
}

// ListAuditEvents implements wallet.Store.
func (s *Store) ListAuditEvents(ctx context.Context, f wallet.AuditFilter) ([]wallet.AuditEvent, error) {
	bt, bid := before(f.After)
	rows, err := s.q.ListAuditEvents(ctx, s.pool, db.ListAuditEventsParams{TargetID: f.TargetID, BeforeCreatedAt: bt, BeforeID: bid, RowLimit: int32(f.Limit)})
	if err != nil {
		return nil, err
	}
	out := make([]wallet.AuditEvent, len(rows))
	for i, r := range rows {
		out[i] = wallet.AuditEvent{ID: r.ID, ActorID: r.ActorID, Action: r.Action, TargetType: r.TargetType, TargetID: r.TargetID,
			Reason: r.Reason, Before: r.Before, After: r.After, CreatedAt: r.CreatedAt}
	}
	return out, nil
}

// Verify implements wallet.Store.
func (s *Store) Verify(ctx context.Context) ([]wallet.Mismatch, error) {
	rows, err := s.q.VerifyAccounts(ctx, s.pool)
	if err != nil {
		return nil, err
	}
	out := make([]wallet.Mismatch, len(rows))
	for i, r := range rows {
		out[i] = wallet.Mismatch{UserID: r.UserID, BalanceCents: r.BalanceCents, LedgerCents: r.LedgerCents,
			HeldCents: r.HeldCents, OpenHoldsCents: r.OpenHoldsCents, NegativeWithoutCause: r.BalanceCents < 0 && !r.MayBeNegative}
	}
	return out, nil
}

// Stats implements wallet.Store.
func (s *Store) Stats(ctx context.Context, today, month time.Time) (wallet.Stats, error) {
	r, err := s.q.Stats(ctx, s.pool, db.StatsParams{Today: today, Month: month})
	if err != nil {
		return wallet.Stats{}, err
	}
	return wallet.Stats{TotalBalanceCents: r.TotalBalanceCents, TotalHeldCents: r.TotalHeldCents, OpenHolds: r.OpenHolds,
		DepositsTodayCents: r.DepositsTodayCents, FeesTodayCents: r.FeesTodayCents,
		Deposits30dCents: r.Deposits30dCents, Fees30dCents: r.Fees30dCents}, nil
}

// OpenHolds returns the number and sum of open holds (the metrics gauge).
func (s *Store) OpenHolds(ctx context.Context) (count, cents int64, err error) {
	r, err := s.q.OpenHolds(ctx, s.pool)
	return r.N, r.Cents, err
}

func toWallet(a db.Account) wallet.Wallet {
	return wallet.Wallet{UserID: a.UserID, BalanceCents: a.BalanceCents, HeldCents: a.HeldCents, Currency: a.Currency}
}

func toTransaction(t db.Transaction) wallet.Transaction {
	return wallet.Transaction{ID: t.ID, UserID: t.UserID, Kind: t.Kind, AmountCents: t.AmountCents, BalanceAfterCents: t.BalanceAfterCents,
		Description: t.Description, ReferenceType: t.ReferenceType, ReferenceID: t.ReferenceID, CreatedAt: t.CreatedAt}
}

func toHold(h db.Hold) wallet.Hold {
	return wallet.Hold{ID: h.ID, Key: h.Key, UserID: h.UserID, AmountCents: h.AmountCents, Status: h.Status, ExpiresAt: h.ExpiresAt,
		Description: h.Description, ReferenceType: h.ReferenceType, ReferenceID: h.ReferenceID, CreatedAt: h.CreatedAt}
}

func toTopUp(t db.Topup) wallet.TopUp {
	return wallet.TopUp{ID: t.ID, UserID: t.UserID, AmountCents: t.AmountCents, Currency: t.Currency, Status: t.Status,
		CheckoutSessionID: deref(t.CheckoutSessionID), CheckoutURL: t.CheckoutUrl, PaymentIntentID: deref(t.PaymentIntentID),
		CreditedCents: t.CreditedCents, Credited: t.CreditedAt != nil, AmountRefundedCents: t.AmountRefundedCents,
		ChargebackCents: t.ChargebackCents, ParkedAt: derefTime(t.ParkedAt), ParkedReason: t.ParkedReason, CreatedAt: t.CreatedAt}
}

func derefTime(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

func newID() uuid.UUID {
	id, err := uuid.NewV7()
	if err != nil {
		return uuid.New()
	}
	return id
}

func ptr[T any](v T) *T { return &v }

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
