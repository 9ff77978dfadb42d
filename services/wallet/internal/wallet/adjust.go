package wallet

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/meterflow/meterflow/platform/idempotency"
	"github.com/meterflow/meterflow/platform/validation"
)

// What an adjustment writes besides its amount: the audit action and the
// ledger row's reference to the admin who booked it.
const (
	ActionAdjust    = "wallet.adjust"
	auditTargetUser = "user"
	referenceAdmin  = "admin"
)

// AdjustRequest is an admin's adjustment as received.
type AdjustRequest struct {
	ActorID        uuid.UUID
	UserID         uuid.UUID
	AmountCents    int64
	Reason         string
	IdempotencyKey string
}

// Adjust credits or debits a wallet for an admin, with an audit record. A
// debit that the available balance does not cover is ErrInsufficientFunds.
// The Idempotency-Key is required, so that a repeated request (a double
// submit, a retry after a timeout) never moves money twice; the amount is
// capped either way so that a typo cannot mint or erase a fortune.
func (s *Service) Adjust(ctx context.Context, r AdjustRequest) (Transaction, error) {
	reason := strings.TrimSpace(r.Reason)
	if err := s.checkAdjustment(r, reason); err != nil {
		return Transaction{}, err
	}
	key := s.keyedRequest(IdempotencyKey{UserID: r.ActorID, Scope: ScopeAdjustment, Key: r.IdempotencyKey},
		idempotency.Hash(r.UserID.String(), r.AmountCents, reason), newID())
	auditID := newID()
	t, fresh, err := s.store.Adjust(ctx, key, r.UserID, s.cfg.Currency, func(w Wallet, id uuid.UUID) (Adjustment, error) {
		return decideAdjustment(w, r.ActorID, r.AmountCents, reason, id, auditID)
	})
	if err != nil {
		return Transaction{}, fmt.Errorf("adjust: %w", err)
	}
	if fresh {
		s.metrics.Booked(KindAdjustment, t.AmountCents)
		s.log.InfoContext(ctx, "wallet adjusted", "actor_id", r.ActorID, "user_id", r.UserID, "amount_cents", r.AmountCents, "transaction_id", t.ID)
	}
	return t, nil
}

func (s *Service) checkAdjustment(r AdjustRequest, reason string) error {
	switch {
	case r.UserID == uuid.Nil:
		return validation.Field("user_id", "must be a UUID")
	case r.AmountCents == 0:
		return validation.Field("amount_cents", "must not be zero")
	case r.AmountCents > s.cfg.AdjustmentMaxCents || r.AmountCents < -s.cfg.AdjustmentMaxCents:
		return validation.Field("amount_cents", fmt.Sprintf("must be at most %d cents either way", s.cfg.AdjustmentMaxCents))
	case r.IdempotencyKey == "":
		return validation.Field("idempotency_key", "is required")
	case reason == "":
		return validation.Field("reason", "is required")
	case utf8.RuneCountInString(reason) > maxTextRunes:
		return validation.Field("reason", "at most 500 characters")
	}
	return idempotency.CheckKey(r.IdempotencyKey)
}

// balanceSnapshot is an audit record's before and after.
type balanceSnapshot struct {
	BalanceCents int64 `json:"balance_cents"`
	HeldCents    int64 `json:"held_cents"`
}

// decideAdjustment books amount on w (locked) for admin actor. A debit
// must fit the available balance: only money that already left (refunds,
// chargebacks) may take a balance below zero, and held funds belong to
// running workflows. The ledger row keeps the reason and names the admin
// (admins see both; the owner sees Transaction.ForOwner); the audit record
// keeps the balances before and after.
func decideAdjustment(w Wallet, actor uuid.UUID, amount int64, reason string, id, auditID uuid.UUID) (Adjustment, error) {
	if amount < 0 && !w.Covers(-amount) {
		return Adjustment{}, ErrInsufficientFunds
	}
	before, err := json.Marshal(balanceSnapshot{BalanceCents: w.BalanceCents, HeldCents: w.HeldCents})
	if err != nil {
		return Adjustment{}, err
	}
	after, err := json.Marshal(balanceSnapshot{BalanceCents: w.BalanceCents + amount, HeldCents: w.HeldCents})
	if err != nil {
		return Adjustment{}, err
	}
	return Adjustment{
		Entry: LedgerEntry{ID: id, Kind: KindAdjustment, AmountCents: amount, Description: reason,
			ReferenceType: referenceAdmin, ReferenceID: actor.String()},
		Audit: AuditEvent{ID: auditID, ActorID: actor, Action: ActionAdjust, TargetType: auditTargetUser,
			TargetID: w.UserID.String(), Reason: reason, Before: before, After: after},
	}, nil
}
