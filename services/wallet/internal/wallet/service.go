package wallet

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Config holds the business knobs.
type Config struct {
	Currency      string
	TopUpMinCents int64
	TopUpMaxCents int64
	SuccessURL    string
	CancelURL     string
	// ReturnOrigins are the origins (see Origin) a top-up's own success_url
	// and cancel_url may point to.
	ReturnOrigins []string
	// AdjustmentMaxCents caps an admin adjustment either way.
	AdjustmentMaxCents int64
	WebhookSecret      string
	// WebhookTolerance is the oldest signature timestamp accepted.
	WebhookTolerance time.Duration
	// HoldDefaultTTL is the expiry of holds reserved without one.
	HoldDefaultTTL time.Duration
	// HoldMaxTTL bounds the expiry a caller may ask for.
	HoldMaxTTL time.Duration
	// IdempotencyTTL is how long Idempotency-Key records are kept.
	IdempotencyTTL time.Duration
	// IdempotencyStale is when a request still processing counts as abandoned.
	IdempotencyStale time.Duration
}

// Metrics receives business events; amounts in cents.
type Metrics interface {
	// Booked counts a committed ledger row.
	Booked(kind string, amountCents int64)
	// WebhookEvent counts a processed Stripe event by type and outcome.
	WebhookEvent(eventType, outcome string)
	// UnlinkedPayment counts a refund or dispute whose PaymentIntent was not
	// linked to a top-up yet, by what its metadata told (Unlinked*).
	UnlinkedPayment(result string)
}

type noMetrics struct{}

func (noMetrics) Booked(string, int64)        {}
func (noMetrics) WebhookEvent(string, string) {}
func (noMetrics) UnlinkedPayment(string)      {}

// Service implements the wallet's use cases.
type Service struct {
	store    Store
	payments PaymentProvider
	cfg      Config
	log      *slog.Logger
	metrics  Metrics
	now      func() time.Time
}

// NewService returns a Service; metrics may be nil.
func NewService(store Store, payments PaymentProvider, cfg Config, log *slog.Logger, metrics Metrics) *Service {
	if metrics == nil {
		metrics = noMetrics{}
	}
	return &Service{store: store, payments: payments, cfg: cfg, log: log, metrics: metrics, now: time.Now}
}

// GetWallet returns the user's wallet, zero when the user has none yet.
func (s *Service) GetWallet(ctx context.Context, userID uuid.UUID) (Wallet, error) {
	ws, err := s.AdminGetWallets(ctx, []uuid.UUID{userID})
	if err != nil {
		return Wallet{}, err
	}
	return ws[0], nil
}

// AdminGetWallets returns one wallet per id, in order, zero for unknown users.
func (s *Service) AdminGetWallets(ctx context.Context, userIDs []uuid.UUID) ([]Wallet, error) {
	if len(userIDs) > MaxPageSize {
		return nil, invalid("user_ids", "at most 200 ids per call")
	}
	found, err := s.store.GetWallets(ctx, userIDs)
	if err != nil {
		return nil, fmt.Errorf("get wallets: %w", err)
	}
	out := make([]Wallet, len(userIDs))
	for i, id := range userIDs {
		w, ok := found[id]
		if !ok {
			w = Wallet{UserID: id, Currency: s.cfg.Currency}
		}
		out[i] = w
	}
	return out, nil
}

// ListTransactions pages the user's ledger, newest first, as the user
// sees it (Transaction.ForOwner).
func (s *Service) ListTransactions(ctx context.Context, userID uuid.UUID, kind string, limit int, cursor string) ([]Transaction, string, error) {
	rows, next, err := s.AdminListTransactions(ctx, TransactionFilter{UserID: &userID, Kind: kind, Limit: limit}, cursor)
	for i := range rows {
		rows[i] = rows[i].ForOwner()
	}
	return rows, next, err
}

// AdminListTransactions pages every ledger with filters, newest first.
func (s *Service) AdminListTransactions(ctx context.Context, f TransactionFilter, cursor string) ([]Transaction, string, error) {
	if f.Kind != "" && !validKind(f.Kind) {
		return nil, "", invalid("kind", "must be one of deposit, fee, withdrawal, chargeback, adjustment")
	}
	if utf8.RuneCountInString(f.Query) > 200 {
		return nil, "", invalid("query", "at most 200 characters")
	}
	if !f.CreatedFrom.IsZero() && !f.CreatedTo.IsZero() && !f.CreatedFrom.Before(f.CreatedTo) {
		return nil, "", invalid("created_to", "must be after created_from")
	}
	limit, err := pageLimit(f.Limit)
	if err != nil {
		return nil, "", err
	}
	if f.After, err = ParseCursor(cursor); err != nil {
		return nil, "", err
	}
	f.Limit = limit + 1
	rows, err := s.store.ListTransactions(ctx, f)
	if err != nil {
		return nil, "", fmt.Errorf("list transactions: %w", err)
	}
	rows, next := page(rows, limit, func(t Transaction) Cursor { return Cursor{CreatedAt: t.CreatedAt, ID: t.ID} })
	return rows, next, nil
}

// ListAuditEvents pages the audit trail, newest first.
func (s *Service) ListAuditEvents(ctx context.Context, targetID string, limit int, cursor string) ([]AuditEvent, string, error) {
	n, err := pageLimit(limit)
	if err != nil {
		return nil, "", err
	}
	after, err := ParseCursor(cursor)
	if err != nil {
		return nil, "", err
	}
	rows, err := s.store.ListAuditEvents(ctx, AuditFilter{TargetID: targetID, After: after, Limit: n + 1})
	if err != nil {
		return nil, "", fmt.Errorf("list audit events: %w", err)
	}
	rows, next := page(rows, n, func(e AuditEvent) Cursor { return Cursor{CreatedAt: e.CreatedAt, ID: e.ID} })
	return rows, next, nil
}

// Stats returns the admin console's totals; "today" starts at 00:00 UTC.
func (s *Service) Stats(ctx context.Context) (Stats, error) {
	now := s.now().UTC()
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	st, err := s.store.Stats(ctx, today, now.Add(-30*24*time.Hour))
	if err != nil {
		return Stats{}, fmt.Errorf("stats: %w", err)
	}
	return st, nil
}

// Verify returns every account that breaks a ledger invariant.
func (s *Service) Verify(ctx context.Context) ([]Mismatch, error) {
	m, err := s.store.Verify(ctx)
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	return m, nil
}

// AdjustInputRequest is an admin's adjustment as received.
type AdjustInputRequest struct {
	ActorID        uuid.UUID
	UserID         string
	AmountCents    int64
	Reason         string
	IdempotencyKey string
}

// Adjust credits or debits a wallet for an admin, with an audit record. A
// debit that the available balance does not cover is ErrInsufficientFunds.
// The Idempotency-Key is required, so that a repeated request (a double
// submit, a retry after a timeout) never moves money twice; the amount is
// capped either way so that a typo cannot mint or erase a fortune.
func (s *Service) Adjust(ctx context.Context, r AdjustInputRequest) (Transaction, error) {
	userID, err := parseID("user_id", r.UserID)
	if err != nil {
		return Transaction{}, err
	}
	reason := strings.TrimSpace(r.Reason)
	switch {
	case r.AmountCents == 0:
		return Transaction{}, invalid("amount_cents", "must not be zero")
	case r.AmountCents > s.cfg.AdjustmentMaxCents || r.AmountCents < -s.cfg.AdjustmentMaxCents:
		return Transaction{}, invalid("amount_cents", fmt.Sprintf("must be at most %d cents either way", s.cfg.AdjustmentMaxCents))
	case r.IdempotencyKey == "":
		return Transaction{}, invalid("idempotency_key", "is required")
	case reason == "":
		return Transaction{}, invalid("reason", "is required")
	case utf8.RuneCountInString(reason) > 500:
		return Transaction{}, invalid("reason", "at most 500 characters")
	}
	if err := checkIdempotencyKey(r.IdempotencyKey); err != nil {
		return Transaction{}, err
	}
	tx, err := s.store.Adjust(ctx, AdjustInput{
		ID: newID(), AuditID: newID(), ActorID: r.ActorID, UserID: userID,
		AmountCents: r.AmountCents, Reason: reason, Currency: s.cfg.Currency,
		Key: r.IdempotencyKey, RequestHash: requestHash(userID.String(), r.AmountCents, reason),
	})
	if err != nil {
		return Transaction{}, fmt.Errorf("adjust: %w", err)
	}
	s.metrics.Booked(KindAdjustment, tx.AmountCents)
	s.log.InfoContext(ctx, "wallet adjusted", "actor_id", r.ActorID, "user_id", userID, "amount_cents", r.AmountCents, "transaction_id", tx.ID)
	return tx, nil
}

// SweepExpiredHolds releases every hold past its expiry, in batches.
func (s *Service) SweepExpiredHolds(ctx context.Context) (int, error) {
	total := 0
	for {
		n, err := s.store.ReleaseExpiredHolds(ctx, s.now(), 500)
		total += n
		if err != nil {
			return total, fmt.Errorf("release expired holds: %w", err)
		}
		if n < 500 {
			return total, nil
		}
	}
}

// SweepIdempotencyKeys forgets Idempotency-Key records older than the TTL.
func (s *Service) SweepIdempotencyKeys(ctx context.Context) (int64, error) {
	n, err := s.store.DeleteExpiredIdempotencyKeys(ctx, s.now().Add(-s.cfg.IdempotencyTTL))
	if err != nil {
		return n, fmt.Errorf("delete expired idempotency keys: %w", err)
	}
	return n, nil
}

// RunSweepers releases expired holds and forgets old idempotency records
// every interval until ctx ends. Several replicas may run it at once.
func (s *Service) RunSweepers(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if n, err := s.SweepExpiredHolds(ctx); err != nil && ctx.Err() == nil {
			s.log.ErrorContext(ctx, "hold sweeper failed", "err", err)
		} else if n > 0 {
			s.log.InfoContext(ctx, "expired holds released", "count", n)
		}
		if _, err := s.SweepIdempotencyKeys(ctx); err != nil && ctx.Err() == nil {
			s.log.ErrorContext(ctx, "idempotency sweeper failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func validKind(k string) bool {
	switch k {
	case KindDeposit, KindFee, KindWithdrawal, KindChargeback, KindAdjustment:
		return true
	}
	return false
}

// newID returns a time-ordered UUID (v7), so ids sort like creation times.
func newID() uuid.UUID {
	id, err := uuid.NewV7()
	if err != nil {
		return uuid.New()
	}
	return id
}

// ParseUserID reads a user id as given by a trusted caller.
func ParseUserID(field, s string) (uuid.UUID, error) { return parseID(field, s) }

func parseID(field, s string) (uuid.UUID, error) {
	id, err := uuid.Parse(s)
	if err != nil || id == uuid.Nil || len(s) != 36 {
		return uuid.Nil, invalid(field, "must be a UUID")
	}
	return id, nil
}

func checkIdempotencyKey(k string) error {
	if len(k) > 255 {
		return invalid("idempotency_key", "must be 1 to 255 characters")
	}
	return nil
}

// requestHash fingerprints a request's meaning for idempotency checks.
func requestHash(parts ...any) []byte {
	h := sha256.New()
	for _, p := range parts {
		switch v := p.(type) {
		case string:
			_ = binary.Write(h, binary.BigEndian, int64(len(v)))
			h.Write([]byte(v))
		case int64:
			_ = binary.Write(h, binary.BigEndian, v)
		default:
			fmt.Fprintf(h, "%T:%v", v, v)
		}
	}
	return h.Sum(nil)
}

// Currency is the deployment's one currency.
func (s *Service) Currency() string { return s.cfg.Currency }
