package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/meterflow/meterflow/platform/groupcommit"
	"github.com/meterflow/meterflow/services/wallet/internal/postgres/db"
	"github.com/meterflow/meterflow/services/wallet/internal/wallet"
)

// BatchSettlements makes the captures and releases of one account coalesce
// (groupcommit), as BatchReserves does for reserves: a settlement that
// finds none of its account's running goes at once, alone, through the
// one-by-one statements; those that arrive meanwhile are applied together,
// in arrival order, by settle_holds in one statement, and the batch's
// crossing is decided once, in the same transaction. Call it before the
// store is used.
func (s *Store) BatchSettlements(o Batches) {
	s.settles = nil
	if o.Max <= 1 {
		return
	}
	s.settles = groupcommit.NewGroups[uuid.UUID](o.Max, func(in settleIn) string { return in.hold.Key },
		groupcommit.OneByOne(s.settleHolds, s.settleOne, o.observer("settle")))
}

// Operations of settle_holds.
const (
	opCapture = "capture"
	opRelease = "release"
)

// settleIn is one decided settlement: op applied to the open hold, as d
// says (d.Apply is true).
type settleIn struct {
	op   string
	hold wallet.Hold
	d    wallet.Settlement
}

// settleOut is what an applied settlement did: the hold after it, a
// capture's fee and the crossings its transaction wrote.
type settleOut struct {
	hold      wallet.Hold
	fee       wallet.Transaction
	crossings []wallet.Crossing
}

// errSettled: the hold was no longer open when the statement ran (a
// concurrent call settled it); the caller loads it and decides again.
var errSettled = errors.New("hold settled concurrently")

// settle applies in through the account's batcher, or alone when
// settlements are not batched.
func (s *Store) settle(ctx context.Context, in settleIn) (settleOut, error) {
	if s.settles != nil {
		return s.settles.Do(ctx, in.hold.UserID, in)
	}
	return s.settleOne(ctx, in)
}

// settleOne applies in with the one-by-one statements.
func (s *Store) settleOne(ctx context.Context, in settleIn) (settleOut, error) {
	if in.op == opCapture {
		return s.captureOne(ctx, in.hold, in.d)
	}
	return s.releaseOne(ctx, in.hold)
}

// settleHoldsSQL calls settle_holds (migration 00009). Written by hand:
// sqlc (v1.31) does not type the columns of a function returning TABLE.
const settleHoldsSQL = `SELECT ord, outcome, id, key, user_id, amount_cents, status, expires_at, description,
    reference_type, reference_id, created_at, api_key_id, spend_month, fee_created_at, balance_after_cents, held_after_cents
FROM settle_holds($1::uuid[], $2::text[], $3::uuid[], $4::text[], $5::bigint[], $6::text[], $7::text[], $8::text[], $9::text[])`

// Outcomes of settle_holds.
const (
	outcomeCaptured = "captured"
	outcomeReleased = "released"
	outcomeSettled  = "settled"
)

// settleHolds applies ins in one statement when no capture's user has
// settings (settle_holds_alone, ADR 0022), else in one transaction:
// settle_holds, then the crossing of the batch's first capture (of each
// account, in user id order: a batch is of one account), on the account as
// that capture left it (ADR 0018 says why that is the one crossing one by
// one would write). It stores each answer in out only once the
// transaction committed; an error means nothing was answered.
func (s *Store) settleHolds(ctx context.Context, ins []settleIn, out []groupcommit.Result[settleOut]) error {
	args := settleArgs(ins)
	if !s.settleInTx {
		err := s.settleHoldsAlone(ctx, ins, out, args)
		if !errors.Is(err, errHasSettings) {
			return err
		}
	}
	n := len(ins)
	var res []groupcommit.Result[settleOut]
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		res = make([]groupcommit.Result[settleOut], n)
		firsts, err := s.applySettlements(ctx, tx, settleHoldsSQL, ins, res, args...)
		if err != nil {
			return err
		}
		for _, f := range firsts {
			if res[f.i].Out.crossings, err = s.cross(ctx, tx, ins[f.i].hold, ins[f.i].d, &f.at); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	copy(out, res)
	return nil
}

// settleArgs are settle_holds' arrays for ins.
func settleArgs(ins []settleIn) []any {
	n := len(ins)
	var (
		holdIDs, feeIDs         = make([]uuid.UUID, n), make([]uuid.UUID, n)
		ops, kinds, descs       = make([]string, n), make([]string, n), make([]string, n)
		refTypes, refIDs, srcKs = make([]string, n), make([]string, n), make([]string, n)
		amounts                 = make([]int64, n)
	)
	for i, in := range ins {
		f := in.d.Fee
		holdIDs[i], ops[i], feeIDs[i], kinds[i], amounts[i] = in.hold.ID, in.op, f.ID, f.Kind, f.AmountCents
		descs[i], refTypes[i], refIDs[i], srcKs[i] = f.Description, f.ReferenceType, f.ReferenceID, f.SourceKey
		if in.op == opRelease {
			feeIDs[i], kinds[i], amounts[i] = uuid.Nil, "", 0
		}
	}
	return []any{holdIDs, ops, feeIDs, kinds, amounts, descs, refTypes, refIDs, srcKs}
}

// firstCapture is an account's first applied capture in a batch that
// decides crossings (ins[i]) and the account right after it.
type firstCapture struct {
	i  int
	at wallet.Wallet
}

// applySettlements runs sql (settle_holds or settle_holds_alone) on q and
// stores its answers in res; errHasSettings when settle_holds_alone
// answered nothing. It returns each account's first applied capture that decides crossings,
// in user id order.
func (s *Store) applySettlements(ctx context.Context, q db.DBTX, sql string, ins []settleIn, res []groupcommit.Result[settleOut], args ...any) ([]firstCapture, error) {
	var firsts []firstCapture
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	answered := 0
	for rows.Next() {
		var (
			ord                         int32
			outcome                     string
			id, userID, apiKeyID        *uuid.UUID
			key, status, desc, rt, rid  *string
			amount, balAfter, heldAfter *int64
			expiresAt, createdAt, month *time.Time
			feeCreatedAt                *time.Time
		)
		if err := rows.Scan(&ord, &outcome, &id, &key, &userID, &amount, &status, &expiresAt, &desc, &rt, &rid, &createdAt,
			&apiKeyID, &month, &feeCreatedAt, &balAfter, &heldAfter); err != nil {
			return nil, err
		}
		i := int(ord) - 1
		if i < 0 || i >= len(ins) {
			return nil, fmt.Errorf("settle_holds answered hold %d of %d", ord, len(ins))
		}
		answered++
		if outcome == outcomeSettled {
			res[i].Err = errSettled
			continue
		}
		want := map[string]string{opCapture: outcomeCaptured, opRelease: outcomeReleased}[ins[i].op]
		if outcome != want || id == nil || balAfter == nil || heldAfter == nil || (outcome == outcomeCaptured && feeCreatedAt == nil) {
			return nil, fmt.Errorf("settle_holds answered %q for the %s of hold %d", outcome, ins[i].op, ord)
		}
		h := wallet.Hold{ID: *id, Key: deref(key), UserID: derefID(userID), AmountCents: *amount, Status: deref(status),
			ExpiresAt: derefTime(expiresAt), Description: deref(desc), ReferenceType: deref(rt), ReferenceID: deref(rid),
			CreatedAt: derefTime(createdAt)}
		if apiKeyID != nil && month != nil {
			h.APIKeyID, h.SpendMonth = *apiKeyID, *month
		}
		res[i].Out.hold = h
		if outcome != outcomeCaptured {
			continue
		}
		f := ins[i].d.Fee
		res[i].Out.fee = wallet.Transaction{ID: f.ID, UserID: h.UserID, Kind: f.Kind, AmountCents: f.AmountCents, BalanceAfterCents: *balAfter,
			Description: f.Description, ReferenceType: f.ReferenceType, ReferenceID: f.ReferenceID, CreatedAt: *feeCreatedAt}
		if ins[i].d.Cross != nil && !slices.ContainsFunc(firsts, func(f firstCapture) bool { return f.at.UserID == h.UserID }) {
			firsts = append(firsts, firstCapture{i: i, at: wallet.Wallet{UserID: h.UserID, BalanceCents: *balAfter, HeldCents: *heldAfter}})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if answered == 0 && sql == settleHoldsAloneSQL {
		return nil, errHasSettings
	}
	if answered != len(ins) {
		return nil, fmt.Errorf("settle_holds answered %d of %d holds", answered, len(ins))
	}
	slices.SortFunc(firsts, func(a, b firstCapture) int { return slices.Compare(a.at.UserID[:], b.at.UserID[:]) })
	return firsts, nil
}
