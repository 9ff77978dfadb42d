package wallet

import (
	"context"
	"time"

	"github.com/google/uuid"
)

// Store keeps wallets in a database. Each method is atomic: every balance
// change and its ledger row commit together or not at all.
type Store interface {
	// GetWallets returns the accounts that exist among userIDs.
	GetWallets(ctx context.Context, userIDs []uuid.UUID) (map[uuid.UUID]Wallet, error)
	// ListTransactions returns one page of ledger rows, newest first.
	ListTransactions(ctx context.Context, f TransactionFilter) ([]Transaction, error)

	// Reserve inserts a hold and raises held_cents when the available balance
	// covers it. A key already used returns that hold (whatever its state)
	// when user and amount match, else ErrIdempotencyKeyReused.
	Reserve(ctx context.Context, in ReserveInput) (Hold, error)
	// Capture settles an open hold as a fee, once. A captured hold returns
	// itself and its fee row (fresh false); a released one ErrHoldConflict.
	Capture(ctx context.Context, key string) (h Hold, fee Transaction, fresh bool, err error)
	// Release frees an open hold, once. A released hold returns itself; a
	// captured one ErrHoldConflict.
	Release(ctx context.Context, key string) (Hold, error)
	// ReleaseExpiredHolds releases up to limit holds whose expiry is before now.
	ReleaseExpiredHolds(ctx context.Context, now time.Time, limit int) (int, error)

	// BeginIdempotent records the start of a keyed request, or reports what
	// an earlier request with the same key did.
	BeginIdempotent(ctx context.Context, in IdempotencyBegin) (IdempotencyState, error)
	// CreateTopUp inserts a pending top-up, or returns the existing one with
	// the same id (a request taking over an abandoned one).
	CreateTopUp(ctx context.Context, t TopUp) (TopUp, error)
	// AttachCheckoutSession stores the session on the top-up and, when key is
	// set, completes the idempotency record with response, in one transaction.
	AttachCheckoutSession(ctx context.Context, topUpID uuid.UUID, s CheckoutSession, key *IdempotencyKey, response []byte) (TopUp, error)
	// AbandonTopUp marks a top-up whose session could not be created failed
	// and forgets the idempotency record so the client can retry.
	AbandonTopUp(ctx context.Context, topUpID uuid.UUID, key *IdempotencyKey) error
	// GetTopUp returns a top-up by id.
	GetTopUp(ctx context.Context, id uuid.UUID) (TopUp, error)
	// ListParkedTopUps returns one page of parked top-ups, most recently
	// parked first.
	ListParkedTopUps(ctx context.Context, after Cursor, limit int) ([]TopUp, error)
	// DeleteExpiredIdempotencyKeys forgets records created before before.
	DeleteExpiredIdempotencyKeys(ctx context.Context, before time.Time) (int64, error)

	// ApplyTopUpEvent processes one Stripe event about a top-up: it records
	// the event id (a duplicate returns OutcomeDuplicate and changes nothing),
	// locks the top-up found by find, asks decide what to do, and writes the
	// change and its ledger rows, all in one transaction. An unknown top-up
	// returns OutcomeUnmatched and writes nothing.
	ApplyTopUpEvent(ctx context.Context, ev EventRef, find TopUpLookup, decide func(TopUp) (TopUpChange, error)) (EventResult, error)

	// Adjust applies an admin adjustment with its audit record, idempotent by
	// key when one is given.
	Adjust(ctx context.Context, in AdjustInput) (Transaction, error)
	// ListAuditEvents returns one page of audit records, newest first.
	ListAuditEvents(ctx context.Context, f AuditFilter) ([]AuditEvent, error)

	// Verify returns every account that breaks a ledger invariant.
	Verify(ctx context.Context) ([]Mismatch, error)
	// Stats sums balances, holds, deposits and fees.
	Stats(ctx context.Context, today, month time.Time) (Stats, error)
}

// PaymentProvider is what the wallet asks of Stripe's API.
type PaymentProvider interface {
	// CreateCheckoutSession creates a payment page. The session and its
	// PaymentIntent both carry the top-up id in metadata["topup_id"] (and the
	// user id in metadata["user_id"]).
	CreateCheckoutSession(ctx context.Context, r CheckoutRequest) (CheckoutSession, error)
	// PaymentIntentMetadata returns a PaymentIntent's metadata, or
	// ErrUnknownPaymentIntent when Stripe does not know the id.
	PaymentIntentMetadata(ctx context.Context, paymentIntentID string) (map[string]string, error)
}

// CheckoutRequest asks the provider for a payment page.
type CheckoutRequest struct {
	TopUpID     uuid.UUID
	UserID      uuid.UUID
	AmountCents int64
	Currency    string
	SuccessURL  string
	CancelURL   string
	// IdempotencyKey is forwarded to Stripe so a repeated call returns the
	// same session.
	IdempotencyKey string
}

// CheckoutSession is the provider's answer.
type CheckoutSession struct {
	ID              string
	URL             string
	PaymentIntentID string
}

// TransactionFilter selects ledger rows. Zero values mean "any".
type TransactionFilter struct {
	UserID      *uuid.UUID
	Kind        string
	Query       string
	CreatedFrom time.Time
	CreatedTo   time.Time
	After       Cursor
	Limit       int
}

// AuditFilter selects audit records.
type AuditFilter struct {
	TargetID string
	After    Cursor
	Limit    int
}

// ReserveInput is a validated hold request.
type ReserveInput struct {
	ID            uuid.UUID
	Key           string
	UserID        uuid.UUID
	AmountCents   int64
	ExpiresAt     time.Time
	Description   string
	ReferenceType string
	ReferenceID   string
}

// IdempotencyKey names one idempotency record.
type IdempotencyKey struct {
	UserID uuid.UUID
	Scope  string
	Key    string
}

// IdempotencyBegin starts a keyed request.
type IdempotencyBegin struct {
	IdempotencyKey
	RequestHash []byte
	// ResourceID is the id the new request will create; a request taking
	// over an abandoned one gets the first request's id back instead.
	ResourceID uuid.UUID
	// StaleBefore: a record still processing since before this is abandoned.
	StaleBefore time.Time
	// ExpiredBefore: a record created before this is forgotten.
	ExpiredBefore time.Time
}

// IdempotencyState says how to go on with a keyed request.
type IdempotencyState struct {
	// Replay is the stored response of a completed request; nil when the
	// caller should proceed.
	Replay []byte
	// ResourceID is the id to create (see IdempotencyBegin.ResourceID).
	ResourceID uuid.UUID
}

// EventRef names a Stripe event.
type EventRef struct {
	ID   string
	Type string
}

// TopUpLookup finds the top-up an event is about: by the first field set.
type TopUpLookup struct {
	CheckoutSessionID string
	PaymentIntentID   string
	TopUpID           uuid.UUID
}

// TopUpChange is what an event does to a top-up: its new bookkeeping and the
// ledger rows to write.
type TopUpChange struct {
	Status              string
	PaymentIntentID     string
	Credited            bool
	CreditedCents       int64
	AmountRefundedCents int64
	ChargebackCents     int64
	// ParkedReason is set with Status TopUpParked.
	ParkedReason string
	Entries      []LedgerEntry
}

// LedgerEntry is one ledger row to write for an event. SourceKey is unique
// across the ledger: an entry whose key exists is never written twice.
type LedgerEntry struct {
	Kind          string
	AmountCents   int64
	Description   string
	ReferenceType string
	ReferenceID   string
	SourceKey     string
}

// Event outcomes, also the "result" label of the webhook metric.
const (
	OutcomeApplied   = "applied"
	OutcomeNoChange  = "no_change"
	OutcomeDuplicate = "duplicate"
	OutcomeUnmatched = "unmatched"
	OutcomeIgnored   = "ignored"
	// OutcomeParked: the event parked its top-up (another currency).
	OutcomeParked = "parked"
)

// EventResult is what ApplyTopUpEvent did.
type EventResult struct {
	Outcome string
	TopUp   TopUp
	Written []Transaction
}

// AdjustInput is a validated admin adjustment.
type AdjustInput struct {
	ID          uuid.UUID
	AuditID     uuid.UUID
	ActorID     uuid.UUID
	UserID      uuid.UUID
	AmountCents int64
	Reason      string
	Currency    string
	// Key is the request's Idempotency-Key (Service.Adjust requires one).
	Key         string
	RequestHash []byte
}
