package wallet

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/meterflow/meterflow/platform/paging"
)

// Store keeps wallets in a database. Each method is atomic: every balance
// change and its ledger row commit together or not at all. Where a write
// depends on a rule, the method takes a decide function of this package:
// the store locks (or reads) what the rule needs, decide rules, and the
// store writes what it returned.
type Store interface {
	// GetWallets returns the accounts that exist among userIDs.
	GetWallets(ctx context.Context, userIDs []uuid.UUID) (map[uuid.UUID]Wallet, error)
	// GetWallet returns the user's account, and false when it has none: the
	// read every GET /v1/wallet makes, one primary-key SELECT.
	GetWallet(ctx context.Context, userID uuid.UUID) (Wallet, bool, error)
	// ListTransactions returns one page of ledger rows, newest first.
	ListTransactions(ctx context.Context, f TransactionFilter) ([]Transaction, error)

	// Reserve inserts a hold and raises held_cents when the available
	// balance covers it, in one statement (reserve_hold, ADR 0010); else
	// ErrInsufficientFunds, also for a user without an account. With an
	// API key, the same statement raises the key's spend in in.SpendMonth
	// only when KeyMonth.Allows it; else ErrSpendLimitExceeded. A key
	// already used returns that hold, whatever its state and request.
	Reserve(ctx context.Context, in ReserveInput) (Hold, error)
	// CaptureHold loads the hold under key (ErrNotFound when none) and asks
	// decide. When the settlement applies, one transaction turns the hold
	// captured and books its Fee (Fresh true), then, when the user has
	// settings, locks them and writes what Settlement.Cross decides on the
	// account after the fee: crossings, an automatic top-up and its charge
	// job (ADR 0008). Else the fee booked by the first capture is returned
	// (found by the Fee's SourceKey). A hold settled by a concurrent call in
	// between is loaded and decided again.
	CaptureHold(ctx context.Context, key string, decide func(Hold) (Settlement, error)) (CaptureResult, error)
	// ReleaseHold is CaptureHold's twin: an applied settlement releases the
	// hold, its held amount and its API key month's spend in one
	// statement; else the hold is returned as loaded.
	ReleaseHold(ctx context.Context, key string, decide func(Hold) (Settlement, error)) (Hold, error)
	// ReleaseExpiredHolds releases up to limit holds whose expiry is before
	// now, giving their amounts back to their accounts and key months.
	ReleaseExpiredHolds(ctx context.Context, now time.Time, limit int) (int, error)
	// APIKeySpend returns the spend in month of those of keyIDs that belong
	// to userID and spent something.
	APIKeySpend(ctx context.Context, userID uuid.UUID, month time.Time, keyIDs []uuid.UUID) (map[uuid.UUID]int64, error)

	// BeginIdempotent records the start of a keyed request: a new key is
	// stored as processing; a stored one is locked and in.Decide says what
	// it means (a Claim is written over it).
	BeginIdempotent(ctx context.Context, in KeyedRequest) (KeyState, error)
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
	ListParkedTopUps(ctx context.Context, after paging.Cursor, limit int) ([]TopUp, error)
	// DeleteExpiredIdempotencyKeys forgets records created before before.
	DeleteExpiredIdempotencyKeys(ctx context.Context, before time.Time) (int64, error)

	// ApplyTopUpEvent processes one Stripe event about a top-up: it records
	// the event id (a duplicate returns OutcomeDuplicate and changes nothing;
	// an EventRef without ID records nothing), locks the top-up found by
	// find and, with find.DisputeID, that dispute's row (zero when none),
	// asks decide what to do, and writes the change, its ledger rows, its
	// dispute row and held amount, and then what AfterBooking decides (the
	// debt flag, the settings), all in one transaction. An unknown top-up
	// returns OutcomeUnmatched and writes nothing.
	ApplyTopUpEvent(ctx context.Context, ev EventRef, find TopUpLookup, decide func(TopUp, Dispute) (TopUpChange, error)) (EventResult, error)
	// LinkPaymentIntent stores the PaymentIntent of an automatic top-up that
	// has none yet.
	LinkPaymentIntent(ctx context.Context, topUpID uuid.UUID, paymentIntentID string) error

	// GetSettings returns the user's settings; found is false when the
	// user has none.
	GetSettings(ctx context.Context, userID uuid.UUID) (s Settings, found bool, err error)
	// UpdateSettings locks the user's settings (created from defaults when
	// missing), reads the wallet, and writes what decide returns.
	UpdateSettings(ctx context.Context, defaults Settings, decide func(Settings, Wallet) (Settings, error)) (Settings, error)
	// SetCustomer stores the Stripe Customer unless one is stored already,
	// and returns the settings as stored.
	SetCustomer(ctx context.Context, defaults Settings, customerID string) (Settings, error)
	// ApplySettingsEvent records a Stripe event (as ApplyTopUpEvent) and
	// writes the settings decide returns for the locked row (ErrNotOurs:
	// unmatched, nothing written).
	ApplySettingsEvent(ctx context.Context, ev EventRef, defaults Settings, decide func(Settings) (Settings, error)) (EventResult, error)
	// ClearPaymentMethod forgets the saved card and switches auto top-up
	// off; it returns the PaymentMethod forgotten ("" when none).
	ClearPaymentMethod(ctx context.Context, userID uuid.UUID) (string, error)
	// InDebt reports whether the account is flagged in debt.
	InDebt(ctx context.Context, userID uuid.UUID) (bool, error)

	// Automation returns what operators see of a user's automation: the
	// debt flag, the last auto top-up crossings with their top-ups, and the
	// disputes.
	Automation(ctx context.Context, userID uuid.UUID, limit int) (Automation, error)
	// ListDisputes returns one page of disputes, newest first.
	ListDisputes(ctx context.Context, openOnly bool, after paging.Cursor, limit int) ([]Dispute, error)
	// ListDebts returns one page of accounts in debt, most recently flagged first.
	ListDebts(ctx context.Context, after paging.Cursor, limit int) ([]Debt, error)
	// RecordReconcileRun stores a reconciliation's counts.
	RecordReconcileRun(ctx context.Context, r ReconcileRun) error

	// Adjust books an admin adjustment in one transaction: it begins key as
	// BeginIdempotent does (a replay returns the ledger row of the first
	// request, fresh false), locks the account of userID (creating it in
	// currency), asks decide what to book with the key's resource id, and
	// writes the balance, the ledger row, the audit record and the key's
	// completion.
	Adjust(ctx context.Context, key KeyedRequest, userID uuid.UUID, currency string, decide func(w Wallet, id uuid.UUID) (Adjustment, error)) (t Transaction, fresh bool, err error)
	// ListAuditEvents returns one page of audit records, newest first.
	ListAuditEvents(ctx context.Context, f AuditFilter) ([]AuditEvent, error)

	// Verify returns every account that breaks a ledger invariant.
	Verify(ctx context.Context) ([]Mismatch, error)
	// Stats sums balances, holds, deposits and fees.
	Stats(ctx context.Context, today, month time.Time) (Stats, error)
	// MoneyByDay sums deposits and fees per UTC day from first to last
	// (midnights UTC), every day present.
	MoneyByDay(ctx context.Context, first, last time.Time) ([]MoneyDay, error)
	// SpendByDay sums one user's fees per UTC day from first to last
	// (midnights UTC), every day present.
	SpendByDay(ctx context.Context, userID uuid.UUID, first, last time.Time) ([]SpendDay, error)
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
	// CreateCustomer creates the wallet's Stripe Customer and returns its id.
	CreateCustomer(ctx context.Context, r CustomerRequest) (string, error)
	// CreateSetupSession creates a setup-mode Checkout Session and returns
	// its URL.
	CreateSetupSession(ctx context.Context, r SetupSessionRequest) (string, error)
	// SetupIntentCard returns the card a SetupIntent saved, or
	// ErrUnknownPaymentIntent when Stripe does not know the SetupIntent.
	SetupIntentCard(ctx context.Context, setupIntentID string) (Card, error)
	// DetachPaymentMethod detaches a card from its Customer.
	DetachPaymentMethod(ctx context.Context, paymentMethodID string) error
	// ChargeOffSession creates and confirms an off-session PaymentIntent; a
	// refused card is a *CardRefusal.
	ChargeOffSession(ctx context.Context, c OffSessionCharge) (PaymentIntent, error)
	// ListEvents calls fn for every event of types created at or after
	// since, paging through Stripe's list.
	ListEvents(ctx context.Context, since time.Time, types []string, fn func(ProviderEvent) error) error
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

// Automation is what operators see of a user's wallet automation.
type Automation struct {
	InDebtSince time.Time
	// AutoTopUps are the latest auto top-up crossings, newest first, each
	// with its top-up (nil when capped).
	AutoTopUps []AutoTopUpRecord
	Disputes   []Dispute
}

// AutoTopUpRecord is one auto top-up crossing and what came of it.
type AutoTopUpRecord struct {
	Crossing Crossing
	TopUp    *TopUp
}

// Debt is an account flagged in debt.
type Debt struct {
	Wallet      Wallet
	InDebtSince time.Time
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
	After       paging.Cursor
	Limit       int
}

// AuditFilter selects audit records.
type AuditFilter struct {
	TargetID string
	After    paging.Cursor
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
	// APIKeyID (uuid.Nil: none), the key's limit (nil: none) and the first
	// day of the UTC month the hold counts towards.
	APIKeyID   uuid.UUID
	LimitCents *int64
	SpendMonth time.Time
}

// EventRef names a Stripe event; Source is SourceWebhook or
// SourceReconcile. A zero EventRef records no event (an outcome the wallet
// learnt from Stripe's answer to its own call).
type EventRef struct {
	ID     string
	Type   string
	Source string
}

// TopUpLookup finds the top-up an event is about: by the first field set.
// DisputeID, when set, names the dispute row the decision is given.
type TopUpLookup struct {
	CheckoutSessionID string
	PaymentIntentID   string
	TopUpID           uuid.UUID
	DisputeID         string
}

// TopUpChange is what an event does to a top-up: its new bookkeeping and the
// ledger rows to write.
type TopUpChange struct {
	Status          string
	PaymentIntentID string
	// CreditedAt is when the deposit was booked; zero while it is not.
	CreditedAt          time.Time
	CreditedCents       int64
	AmountRefundedCents int64
	ChargebackCents     int64
	// ParkedAt and ParkedReason are set with Status TopUpParked.
	ParkedAt      time.Time
	ParkedReason  string
	FailureReason string
	Entries       []LedgerEntry
	// Dispute is the dispute row to write and the held amount's change.
	Dispute *DisputeChange
	// AutoTopUp is an automatic charge's outcome, for the settings.
	AutoTopUp *AutoTopUpResult
	// Emails go out with the change (receipts, failed automatic charges);
	// AfterBooking completes them.
	Emails []Email
	// Events go out with the change (topup.paid).
	Events []Event
}

// LedgerEntry is one ledger row to write. SourceKey, when set, is unique
// across the ledger: an entry whose key exists is never written twice.
type LedgerEntry struct {
	ID            uuid.UUID
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
	// Foreign: unmatched, and naming nothing of ours (another integration's
	// payment on a shared Stripe account).
	Foreign bool
	// InDebt: the account is flagged in debt after the event.
	InDebt bool
	// SwitchedOff: the event's failure switched auto top-up off.
	SwitchedOff bool
}

// Adjustment is what an admin adjustment writes (decideAdjustment).
type Adjustment struct {
	Entry LedgerEntry
	Audit AuditEvent
}

// Settlement is what a capture or release does to a hold (settle).
type Settlement struct {
	// Apply: the hold is open and ends now. False when it already ended
	// this way: the repeated call is answered as the first was.
	Apply bool
	// Fee is a capture's ledger row: booked when Apply, else the row the
	// first capture booked, found by its SourceKey.
	Fee LedgerEntry
	// Cross decides the crossings of an applied capture (decideCrossings).
	Cross func(CrossingInput) CrossingResult
	// AutoMonth is the first day of the UTC month whose automatic charges
	// count towards the cap (CrossingInput.AutoMonthCents).
	AutoMonth time.Time
}

// CaptureResult is what CaptureHold did.
type CaptureResult struct {
	Hold Hold
	Fee  Transaction
	// Fresh: this call captured the hold.
	Fresh     bool
	Crossings []Crossing
}
