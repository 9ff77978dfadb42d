package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/meterflow/meterflow/platform/database"
	"github.com/meterflow/meterflow/services/wallet/internal/postgres/db"
	"github.com/meterflow/meterflow/services/wallet/internal/wallet"
)

// Reserve implements wallet.Store: through the batcher when reserves are
// batched (BatchReserves, ADR 0017), else with reserveOne.
func (s *Store) Reserve(ctx context.Context, in wallet.ReserveInput) (wallet.Hold, error) {
	if s.reserves != nil {
		return s.reserves.Do(ctx, in.UserID, in)
	}
	return s.reserveOne(ctx, in)
}

// reserveOne reserves in with reserve_hold: one statement, so the
// account's row is locked only for its own UPDATE and the commit, not
// across round trips (docs/adr/0010-reserve-rule-in-sql.md says why this
// rule lives in SQL and how it is held against the Go rules).
func (s *Store) reserveOne(ctx context.Context, in wallet.ReserveInput) (wallet.Hold, error) {
	var h db.Hold
	err := database.Retry(ctx, func() error {
		var err error
		p := db.ReserveHoldParams{
			ID: in.ID, Key: in.Key, UserID: in.UserID, AmountCents: in.AmountCents, ExpiresAt: in.ExpiresAt,
			Description: in.Description, ReferenceType: in.ReferenceType, ReferenceID: in.ReferenceID,
		}
		if in.APIKeyID != uuid.Nil {
			p.ApiKeyID, p.SpendMonth, p.LimitCents = &in.APIKeyID, &in.SpendMonth, in.LimitCents
		}
		h, err = s.q.ReserveHold(ctx, s.pool, p)
		return err
	})
	switch {
	case isSpendLimitExceeded(err):
		return wallet.Hold{}, wallet.ErrSpendLimitExceeded
	case isInsufficientFunds(err), isForeignKeyViolation(err): // no account yet: nothing to reserve
		return wallet.Hold{}, wallet.ErrInsufficientFunds
	case err != nil:
		return wallet.Hold{}, err
	}
	return toHold(h), nil
}

// A hold leaves the open state once, so a settlement that lost a race to a
// concurrent call finds the hold final when it loads it again: the second
// decision never applies.
const maxSettleAttempts = 2

var errHoldRace = errors.New("hold settled concurrently twice")

// CaptureHold implements wallet.Store. The hold is loaded without a lock:
// the capture applies only while the hold is still open. The capture and
// its crossings commit in one transaction (ADR 0008), alone (captureOne)
// or with the account's other settlements of the moment (settle_holds,
// ADR 0018). For a user without settings that transaction is one
// statement (ADR 0022).
func (s *Store) CaptureHold(ctx context.Context, key string, decide func(wallet.Hold) (wallet.Settlement, error)) (wallet.CaptureResult, error) {
	for range maxSettleAttempts {
		h, err := s.holdByKey(ctx, key)
		if err != nil {
			return wallet.CaptureResult{}, err
		}
		d, err := decide(h)
		if err != nil {
			return wallet.CaptureResult{}, err
		}
		if !d.Apply {
			fee, err := s.q.GetTransactionBySourceKey(ctx, s.pool, &d.Fee.SourceKey)
			if err != nil {
				return wallet.CaptureResult{}, fmt.Errorf("fee %s of a captured hold: %w", d.Fee.SourceKey, err)
			}
			return wallet.CaptureResult{Hold: h, Fee: toTransaction(fee)}, nil
		}
		out, err := s.settle(ctx, settleIn{op: opCapture, hold: h, d: d})
		if errors.Is(err, errSettled) {
			continue // settled by a concurrent call: decide again
		}
		if err != nil {
			return wallet.CaptureResult{}, err
		}
		return wallet.CaptureResult{Hold: out.hold, Fee: out.fee, Fresh: true, Crossings: out.crossings}, nil
	}
	return wallet.CaptureResult{}, errHoldRace
}

// captureOne captures the open hold h alone: in one statement when its
// user has no settings (captureAlone, ADR 0022), else with captureInTx.
// errSettled when the hold is no longer open.
func (s *Store) captureOne(ctx context.Context, h wallet.Hold, d wallet.Settlement) (settleOut, error) {
	if !s.settleInTx {
		out, err := s.captureAlone(ctx, h, d)
		if !errors.Is(err, errHasSettings) {
			return out, err
		}
	}
	return s.captureInTx(ctx, h, d)
}

// captureInTx captures the open hold h in a transaction: the capture
// statement locks the account; the user's settings, when any, are locked
// after it (the same order as every credit), and the crossings, the
// automatic top-up and its charge job are written before the commit.
// errSettled when the hold is no longer open.
func (s *Store) captureInTx(ctx context.Context, h wallet.Hold, d wallet.Settlement) (settleOut, error) {
	var out settleOut
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		fee, err := s.q.CaptureHold(ctx, tx, db.CaptureHoldParams{
			HoldID: h.ID, ID: d.Fee.ID, Kind: d.Fee.Kind, AmountCents: d.Fee.AmountCents, Description: d.Fee.Description,
			ReferenceType: d.Fee.ReferenceType, ReferenceID: d.Fee.ReferenceID, SourceKey: d.Fee.SourceKey,
		})
		if err != nil {
			return err
		}
		out = settleOut{hold: h, fee: toTransaction(fee)}
		out.hold.Status = wallet.HoldCaptured
		if d.Cross == nil {
			return nil
		}
		out.crossings, err = s.cross(ctx, tx, h, d, nil)
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return settleOut{}, errSettled
	}
	return out, err
}

// cross locks the settings of the hold's user (none: nothing to decide),
// asks decide about the account after the capture, and writes the
// crossings, the automatic top-up and its job, and the crossings' emails
// and webhook events. The account after the capture is the one read in
// tx, or, when at is not nil, at's balance and held amount (a batch's
// capture that other settlements of the batch followed, ADR 0018).
func (s *Store) cross(ctx context.Context, tx pgx.Tx, h wallet.Hold, d wallet.Settlement, at *wallet.Wallet) ([]wallet.Crossing, error) {
	row, err := s.q.LockSettings(ctx, tx, h.UserID)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	acct, err := s.q.GetAccount(ctx, tx, h.UserID)
	if err != nil {
		return nil, err
	}
	in := wallet.CrossingInput{Hold: h, Wallet: toWallet(acct), InDebt: acct.InDebtSince != nil, Settings: toSettings(row)}
	if at != nil {
		in.Wallet.BalanceCents, in.Wallet.HeldCents = at.BalanceCents, at.HeldCents
	}
	if in.Settings.AutoTopUp.Enabled {
		if in.AutoMonthCents, err = s.q.AutoTopUpMonthCents(ctx, tx, db.AutoTopUpMonthCentsParams{UserID: h.UserID, Month: d.AutoMonth}); err != nil {
			return nil, err
		}
	}
	res := d.Cross(in)
	if !res.Changed(in.Settings) {
		return nil, nil
	}
	if res.TopUp != nil {
		t := res.TopUp
		// The crossing row names the top-up: the top-up first.
		if _, err := s.q.InsertAutoTopUp(ctx, tx, db.InsertAutoTopUpParams{ID: t.ID, UserID: t.UserID, AmountCents: t.AmountCents, Currency: t.Currency, CrossingID: &t.CrossingID}); err != nil {
			return nil, err
		}
	}
	for _, c := range res.Crossings {
		if err := s.q.InsertCrossing(ctx, tx, db.InsertCrossingParams{ID: c.ID, UserID: c.UserID, Kind: c.Kind, HoldID: c.HoldID,
			ThresholdCents: c.ThresholdCents, AvailableCents: c.AvailableCents, Outcome: c.Outcome, TopupID: nilIfZero(c.TopUpID)}); err != nil {
			return nil, err
		}
	}
	if res.TopUp != nil {
		if err := s.queueCharge(ctx, tx, res.TopUp.ID); err != nil {
			return nil, err
		}
	}
	if _, err := s.writeSettings(ctx, tx, res.Settings); err != nil {
		return nil, err
	}
	if err := s.enqueueEmails(ctx, tx, res.Emails); err != nil {
		return nil, err
	}
	if err := s.enqueueEvents(ctx, tx, res.Events); err != nil {
		return nil, err
	}
	return res.Crossings, nil
}

func nilIfZero(id uuid.UUID) *uuid.UUID {
	if id == uuid.Nil {
		return nil
	}
	return &id
}

// ReleaseHold implements wallet.Store, as CaptureHold does.
func (s *Store) ReleaseHold(ctx context.Context, key string, decide func(wallet.Hold) (wallet.Settlement, error)) (wallet.Hold, error) {
	for range maxSettleAttempts {
		h, err := s.holdByKey(ctx, key)
		if err != nil {
			return wallet.Hold{}, err
		}
		d, err := decide(h)
		if err != nil || !d.Apply {
			return h, err
		}
		out, err := s.settle(ctx, settleIn{op: opRelease, hold: h, d: d})
		if errors.Is(err, errSettled) {
			continue // settled by a concurrent call: decide again
		}
		if err != nil {
			return wallet.Hold{}, err
		}
		return out.hold, nil
	}
	return wallet.Hold{}, errHoldRace
}

// releaseOne releases the open hold h alone, with release_hold;
// errSettled when it is no longer open.
func (s *Store) releaseOne(ctx context.Context, h wallet.Hold) (settleOut, error) {
	var row db.Hold
	err := database.Retry(ctx, func() error {
		var err error
		row, err = s.q.ReleaseHold(ctx, s.pool, h.ID)
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return settleOut{}, errSettled
	}
	if err != nil {
		return settleOut{}, err
	}
	return settleOut{hold: toHold(row)}, nil
}

// holdByKey loads the hold under key, or ErrNotFound.
func (s *Store) holdByKey(ctx context.Context, key string) (wallet.Hold, error) {
	h, err := s.q.GetHoldByKey(ctx, s.pool, key)
	if errors.Is(err, pgx.ErrNoRows) {
		return wallet.Hold{}, wallet.ErrNotFound
	}
	if err != nil {
		return wallet.Hold{}, err
	}
	return toHold(h), nil
}

// ReleaseExpiredHolds implements wallet.Store. API key months, then
// accounts, are updated in id order, as reserve_hold and release_hold lock
// them (a key's month before an account), so neither two sweepers nor a
// sweeper and a reserve ever lock the same rows in opposite orders.
func (s *Store) ReleaseExpiredHolds(ctx context.Context, now time.Time, limit int) (int, error) {
	n := 0
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		holds, err := s.q.LockExpiredHolds(ctx, tx, db.LockExpiredHoldsParams{Now: now, RowLimit: int32(limit)})
		if err != nil {
			return err
		}
		perUser := map[uuid.UUID]int64{}
		perKeyMonth := map[keyMonth]int64{}
		for _, h := range holds {
			if err := s.q.ReleaseHoldByID(ctx, tx, h.ID); err != nil {
				return err
			}
			perUser[h.UserID] += h.AmountCents
			if h.ApiKeyID != nil && h.SpendMonth != nil {
				perKeyMonth[keyMonth{*h.ApiKeyID, *h.SpendMonth}] += h.AmountCents
			}
		}
		if err := s.unholdKeyMonths(ctx, tx, perKeyMonth); err != nil {
			return err
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

func toHold(h db.Hold) wallet.Hold {
	out := wallet.Hold{ID: h.ID, Key: h.Key, UserID: h.UserID, AmountCents: h.AmountCents, Status: h.Status, ExpiresAt: h.ExpiresAt,
		Description: h.Description, ReferenceType: h.ReferenceType, ReferenceID: h.ReferenceID, CreatedAt: h.CreatedAt}
	if h.ApiKeyID != nil && h.SpendMonth != nil {
		out.APIKeyID, out.SpendMonth = *h.ApiKeyID, *h.SpendMonth
	}
	return out
}
