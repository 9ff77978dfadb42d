package postgres

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/meterflow/meterflow/platform/groupcommit"
	"github.com/meterflow/meterflow/services/wallet/internal/wallet"
)

// Batches configures the batching of reserves (BatchReserves, ADR 0017)
// or of captures and releases (BatchSettlements, ADR 0018).
type Batches struct {
	// Max is the most holds one transaction decides; 1 decides them one by
	// one (reserve_hold; the CaptureHold query and release_hold), as before
	// batching.
	Max int
	// Log receives a warning when a batch fails and its holds are decided
	// one by one.
	Log *slog.Logger
	// Observe, when set, is told each batch's size (1: a call that found
	// no batch running) and whether it fell back to one by one (the
	// metrics).
	Observe func(size int, fellBack bool)
}

// observer is groupcommit.OneByOne's observer for o: Observe, and the
// warning of a failed batch of what ("reserve", "settle").
func (o Batches) observer(what string) func(ctx context.Context, size int, err error) {
	return func(ctx context.Context, size int, err error) {
		if o.Observe != nil {
			o.Observe(size, err != nil)
		}
		if err != nil && o.Log != nil {
			o.Log.WarnContext(ctx, what+" batch failed: deciding its holds one by one", "holds", size, "err", err)
		}
	}
}

// BatchReserves makes Reserve coalesce concurrent calls of one account
// (groupcommit): a reserve that finds none of its account's running goes
// at once, alone, through reserve_hold; those that arrive meanwhile are
// decided together, in arrival order, by reserve_holds in one statement
// and one commit, which writes the account once. Reserves of different
// accounts never wait on one another, as one by one (ADR 0017 says why
// batches do not mix accounts). Call it before the store is used.
func (s *Store) BatchReserves(o Batches) {
	s.reserves = nil
	if o.Max <= 1 {
		return
	}
	s.reserves = groupcommit.NewGroups[uuid.UUID](o.Max, func(in wallet.ReserveInput) string { return in.Key },
		groupcommit.OneByOne(s.reserveHolds, s.reserveOne, o.observer("reserve")))
}

// reserveHoldsSQL calls reserve_holds (migration 00008). Written by hand:
// sqlc (v1.31) does not type the columns of a function returning TABLE.
const reserveHoldsSQL = `SELECT ord, outcome, id, key, user_id, amount_cents, status, expires_at, description,
    reference_type, reference_id, created_at, updated_at, api_key_id, spend_month
FROM reserve_holds($1::uuid[], $2::text[], $3::uuid[], $4::bigint[], $5::timestamptz[],
    $6::text[], $7::text[], $8::text[], $9::uuid[], $10::date[], $11::bigint[])`

// Outcomes of reserve_holds.
const (
	outcomeOK                 = "ok"
	outcomeInsufficientFunds  = "insufficient_funds"
	outcomeSpendLimitExceeded = "spend_limit_exceeded"
)

// reserveHolds decides ins in one statement and stores each answer in
// out; an error means nothing was answered (and, unless the error came
// after the commit, nothing written).
func (s *Store) reserveHolds(ctx context.Context, ins []wallet.ReserveInput, out []groupcommit.Result[wallet.Hold]) error {
	n := len(ins)
	var (
		ids, users, keyIDs = make([]uuid.UUID, n), make([]uuid.UUID, n), make([]uuid.UUID, n)
		keys, descs        = make([]string, n), make([]string, n)
		refTypes, refIDs   = make([]string, n), make([]string, n)
		amounts, limits    = make([]int64, n), make([]int64, n)
		expiries, months   = make([]time.Time, n), make([]time.Time, n)
	)
	for i, in := range ins {
		ids[i], keys[i], users[i], amounts[i], expiries[i] = in.ID, in.Key, in.UserID, in.AmountCents, in.ExpiresAt
		descs[i], refTypes[i], refIDs[i] = in.Description, in.ReferenceType, in.ReferenceID
		keyIDs[i], months[i], limits[i] = in.APIKeyID, in.SpendMonth, -1
		if in.LimitCents != nil {
			limits[i] = *in.LimitCents
		}
		if in.APIKeyID == uuid.Nil {
			months[i] = time.Time{}
		}
	}
	rows, err := s.pool.Query(ctx, reserveHoldsSQL, ids, keys, users, amounts, expiries, descs, refTypes, refIDs, keyIDs, months, limits)
	if err != nil {
		return err
	}
	defer rows.Close()
	answered := 0
	for rows.Next() {
		var (
			ord     int32
			outcome string
			h       struct {
				id, userID, apiKeyID                   *uuid.UUID
				key, status, desc, refType, refID      *string
				amount                                 *int64
				expiresAt, createdAt, updatedAt, month *time.Time
			}
		)
		if err := rows.Scan(&ord, &outcome, &h.id, &h.key, &h.userID, &h.amount, &h.status, &h.expiresAt, &h.desc,
			&h.refType, &h.refID, &h.createdAt, &h.updatedAt, &h.apiKeyID, &h.month); err != nil {
			return err
		}
		i := int(ord) - 1
		if i < 0 || i >= n {
			return fmt.Errorf("reserve_holds answered hold %d of %d", ord, n)
		}
		switch outcome {
		case outcomeOK:
			if h.id == nil {
				return fmt.Errorf("reserve_holds answered hold %d without its row", ord)
			}
			out[i].Out = wallet.Hold{ID: *h.id, Key: deref(h.key), UserID: derefID(h.userID), AmountCents: *h.amount, Status: deref(h.status),
				ExpiresAt: derefTime(h.expiresAt), Description: deref(h.desc), ReferenceType: deref(h.refType), ReferenceID: deref(h.refID),
				CreatedAt: derefTime(h.createdAt)}
			if h.apiKeyID != nil && h.month != nil {
				out[i].Out.APIKeyID, out[i].Out.SpendMonth = *h.apiKeyID, *h.month
			}
		case outcomeInsufficientFunds:
			out[i].Err = wallet.ErrInsufficientFunds
		case outcomeSpendLimitExceeded:
			out[i].Err = wallet.ErrSpendLimitExceeded
		default:
			return fmt.Errorf("reserve_holds answered %q for hold %d", outcome, ord)
		}
		answered++
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if answered != n {
		return fmt.Errorf("reserve_holds answered %d of %d holds", answered, n)
	}
	return nil
}
