// Package wallet holds the wallet's business rules: balances, holds, top-ups,
// Stripe events and admin adjustments. It imports neither gRPC nor pgx; the
// Store and PaymentProvider it needs are declared here and implemented by
// internal/postgres and internal/stripeclient.
package wallet

import (
	"time"

	"github.com/google/uuid"
)

// Ledger kinds.
const (
	KindDeposit    = "deposit"
	KindFee        = "fee"
	KindWithdrawal = "withdrawal"
	KindChargeback = "chargeback"
	KindAdjustment = "adjustment"
)

// Hold statuses.
const (
	HoldHeld     = "held"
	HoldCaptured = "captured"
	HoldReleased = "released"
)

// Top-up statuses.
const (
	TopUpPending = "pending"
	TopUpPaid    = "paid"
	TopUpFailed  = "failed"
	TopUpExpired = "expired"
	// TopUpParked: Stripe reported the payment in another currency than the
	// top-up's. Nothing is credited or debited for it automatically any
	// more; an operator resolves it (README, "Parked top-ups").
	TopUpParked = "parked"
)

// Idempotency scopes: one key space per user and route.
const (
	ScopeTopUp      = "topup"
	ScopeAdjustment = "adjustment"
)

// Wallet is one user's balance. Users without an account have a zero wallet.
type Wallet struct {
	UserID       uuid.UUID
	BalanceCents int64
	HeldCents    int64
	Currency     string
}

// AvailableCents is what new holds may take.
func (w Wallet) AvailableCents() int64 { return w.BalanceCents - w.HeldCents }

// Covers reports whether the available balance covers taking cents away:
// the rule of every hold (enforced inside reserve_hold, ADR 0010, and held
// against this function by the store's tests) and of every admin debit.
func (w Wallet) Covers(cents int64) bool { return w.AvailableCents() >= cents }

// Transaction is one ledger row.
type Transaction struct {
	ID                uuid.UUID
	UserID            uuid.UUID
	Kind              string
	AmountCents       int64
	BalanceAfterCents int64
	Description       string
	ReferenceType     string
	ReferenceID       string
	CreatedAt         time.Time
}

// descriptionAdjustment is what a user sees for an adjustment.
const descriptionAdjustment = "Adjustment"

// ForOwner is the row as the wallet's owner sees it. An adjustment reads
// "Adjustment" without a reference: the admin's id and the internal reason
// are for admins only (the admin lists and the audit log keep both).
func (t Transaction) ForOwner() Transaction {
	if t.Kind == KindAdjustment {
		t.Description, t.ReferenceType, t.ReferenceID = descriptionAdjustment, "", ""
	}
	return t
}

// Hold reserves part of the available balance.
type Hold struct {
	ID            uuid.UUID
	Key           string
	UserID        uuid.UUID
	AmountCents   int64
	Status        string
	ExpiresAt     time.Time
	Description   string
	ReferenceType string
	ReferenceID   string
	CreatedAt     time.Time
	// APIKeyID is the API key whose month (SpendMonth) the hold counts
	// towards; uuid.Nil for a run started without a key.
	APIKeyID   uuid.UUID
	SpendMonth time.Time
}

// TopUp is a Stripe Checkout payment into a wallet, with the bookkeeping that
// makes repeated Stripe events harmless.
type TopUp struct {
	ID                uuid.UUID
	UserID            uuid.UUID
	AmountCents       int64
	Currency          string
	Status            string
	CheckoutSessionID string
	CheckoutURL       string
	PaymentIntentID   string
	CreditedCents     int64
	// Credited: the deposit was booked, at CreditedAt (the wallet's clock).
	Credited   bool
	CreditedAt time.Time
	// AmountRefundedCents is the largest cumulative refund seen, all debited.
	AmountRefundedCents int64
	// ChargebackCents is the sum of lost disputes, all debited.
	ChargebackCents int64
	// ParkedAt (the wallet's clock) and ParkedReason are set when the
	// top-up was parked.
	ParkedAt     time.Time
	ParkedReason string
	// Origin is OriginCheckout (a Checkout Session the user paid) or
	// OriginAuto (an off-session charge of the saved card, queued by the
	// crossing CrossingID).
	Origin     string
	CrossingID uuid.UUID
	// FailureReason is Stripe's answer when an automatic charge failed.
	FailureReason string
	CreatedAt     time.Time
}

// UserStatus is the status the top-up's owner sees: the public contract
// knows pending, paid, failed and expired. A parked top-up is shown as
// pending: the payment is not credited and waits for an operator.
func (t TopUp) UserStatus() string {
	if t.Status == TopUpParked {
		return TopUpPending
	}
	return t.Status
}

// AuditEvent records one admin action.
type AuditEvent struct {
	ID         uuid.UUID
	ActorID    uuid.UUID
	Action     string
	TargetType string
	TargetID   string
	Reason     string
	Before     []byte
	After      []byte
	CreatedAt  time.Time
}

// Stats are money totals for the admin console.
type Stats struct {
	TotalBalanceCents  int64
	TotalHeldCents     int64
	OpenHolds          int64
	DepositsTodayCents int64
	FeesTodayCents     int64
	Deposits30dCents   int64
	Fees30dCents       int64
	// ByDay has deposits and fees per UTC day, oldest first (when asked).
	ByDay []MoneyDay
}

// Mismatch is an account that breaks a ledger invariant.
type Mismatch struct {
	UserID         uuid.UUID
	BalanceCents   int64
	LedgerCents    int64
	HeldCents      int64
	OpenHoldsCents int64
	// DisputeHoldsCents is what the account's open disputes hold (part of
	// HeldCents besides the open holds).
	DisputeHoldsCents int64
	// NegativeWithoutCause: the balance is below zero but no withdrawal or
	// chargeback ever touched the account.
	NegativeWithoutCause bool
	// KeySpend is set, and the fields above but UserID are zero, when the
	// mismatch is an API key's month rather than an account.
	KeySpend *KeySpendMismatch
	// Problem is set, and the amounts above are zero, when the mismatch is
	// a dispute hold or an automatic top-up (what is wrong, with the ids).
	Problem string
}
