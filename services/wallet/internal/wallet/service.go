package wallet

import (
	"context"
	"fmt"
	"log/slog"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/meterflow/meterflow/platform/paging"
	"github.com/meterflow/meterflow/platform/validation"
)

// Config is what a Service is built from: its ports and its business knobs.
type Config struct {
	// Store keeps the wallets (internal/postgres).
	Store Store
	// Payments is Stripe's API (internal/stripeclient).
	Payments PaymentProvider
	// Log receives the service's log lines; slog.Default when nil.
	Log *slog.Logger
	// Metrics receives business events; none when nil.
	Metrics Metrics
	// Now is the clock every rule reads (expiries, idempotency windows,
	// the times written on top-ups); time.Now when nil.
	Now func() time.Time

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
	// AutoTopUpCapMultiple × the auto top-up amount caps a month's
	// automatic charges when the user has no cap of their own.
	AutoTopUpCapMultiple int64
	// PortalURL is the gateway's public URL (PUBLIC_BASE_URL): the links
	// of the emails point at its /app pages.
	PortalURL string
}

// Metrics receives business events; amounts in cents.
type Metrics interface {
	// Booked counts a committed ledger row.
	Booked(kind string, amountCents int64)
	// WebhookEvent counts a processed Stripe event by type and outcome.
	WebhookEvent(eventType, outcome string)
	// HoldsExpired counts holds the expiry sweeper released (a reconciler
	// repairing what the normal path, a capture or release, left open).
	HoldsExpired(n int)
	// StripeEventLag observes how long after its creation at Stripe a
	// signature-verified event was handled (redeliveries of one already
	// handled excluded).
	StripeEventLag(d time.Duration)
	// UnlinkedPayment counts a refund or dispute whose PaymentIntent was not
	// linked to a top-up yet, by what its metadata told (Unlinked*).
	UnlinkedPayment(result string)
	// Crossing counts a balance crossing by kind and outcome.
	Crossing(kind, outcome string)
	// AutoTopUp counts automatic top-ups that succeeded or failed.
	AutoTopUp(result string)
}

type noMetrics struct{}

func (noMetrics) Crossing(string, string) {}
func (noMetrics) AutoTopUp(string)        {}

func (noMetrics) Booked(string, int64)         {}
func (noMetrics) WebhookEvent(string, string)  {}
func (noMetrics) UnlinkedPayment(string)       {}
func (noMetrics) HoldsExpired(int)             {}
func (noMetrics) StripeEventLag(time.Duration) {}

// Service implements the wallet's use cases.
type Service struct {
	store    Store
	payments PaymentProvider
	cfg      Config
	log      *slog.Logger
	metrics  Metrics
	now      func() time.Time
}

// NewService returns a Service for c.
func NewService(c Config) *Service {
	s := &Service{store: c.Store, payments: c.Payments, cfg: c, log: c.Log, metrics: c.Metrics, now: c.Now}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.metrics == nil {
		s.metrics = noMetrics{}
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.cfg.AutoTopUpCapMultiple <= 0 {
		s.cfg.AutoTopUpCapMultiple = 10
	}
	return s
}

// Currency is the deployment's one currency.
func (s *Service) Currency() string { return s.cfg.Currency }

// GetWallet returns the user's wallet, zero when the user has none yet.
func (s *Service) GetWallet(ctx context.Context, userID uuid.UUID) (Wallet, error) {
	w, ok, err := s.store.GetWallet(ctx, userID)
	if err != nil {
		return Wallet{}, fmt.Errorf("get wallet: %w", err)
	}
	if !ok {
		w = Wallet{UserID: userID, Currency: s.cfg.Currency}
	}
	return w, nil
}

// AdminGetWallets returns one wallet per id, in order, zero for unknown
// users; at most a page's worth (paging.MaxLimit) per call.
func (s *Service) AdminGetWallets(ctx context.Context, userIDs []uuid.UUID) ([]Wallet, error) {
	if len(userIDs) > paging.MaxLimit {
		return nil, validation.Field("user_ids", fmt.Sprintf("at most %d ids per call", paging.MaxLimit))
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
		return nil, "", validation.Field("kind", "must be one of deposit, fee, withdrawal, chargeback, adjustment")
	}
	if utf8.RuneCountInString(f.Query) > 200 {
		return nil, "", validation.Field("query", "at most 200 characters")
	}
	if !f.CreatedFrom.IsZero() && !f.CreatedTo.IsZero() && !f.CreatedFrom.Before(f.CreatedTo) {
		return nil, "", validation.Field("created_to", "must be after created_from")
	}
	limit, err := paging.Limit(f.Limit)
	if err != nil {
		return nil, "", err
	}
	if f.After, err = paging.ParseCursor(cursor); err != nil {
		return nil, "", err
	}
	f.Limit = limit + 1
	rows, err := s.store.ListTransactions(ctx, f)
	if err != nil {
		return nil, "", fmt.Errorf("list transactions: %w", err)
	}
	rows, next := paging.Trim(rows, limit, func(t Transaction) paging.Cursor { return paging.Cursor{CreatedAt: t.CreatedAt, ID: t.ID} })
	return rows, next, nil
}

// ListAuditEvents pages the audit trail, newest first.
func (s *Service) ListAuditEvents(ctx context.Context, targetID string, limit int, cursor string) ([]AuditEvent, string, error) {
	n, err := paging.Limit(limit)
	if err != nil {
		return nil, "", err
	}
	after, err := paging.ParseCursor(cursor)
	if err != nil {
		return nil, "", err
	}
	rows, err := s.store.ListAuditEvents(ctx, AuditFilter{TargetID: targetID, After: after, Limit: n + 1})
	if err != nil {
		return nil, "", fmt.Errorf("list audit events: %w", err)
	}
	rows, next := paging.Trim(rows, n, func(e AuditEvent) paging.Cursor { return paging.Cursor{CreatedAt: e.CreatedAt, ID: e.ID} })
	return rows, next, nil
}

// Verify returns every account that breaks a ledger invariant.
func (s *Service) Verify(ctx context.Context) ([]Mismatch, error) {
	m, err := s.store.Verify(ctx)
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	return m, nil
}

// sweepBatch is how many expired holds one sweeper transaction releases.
const sweepBatch = 500

// SweepExpiredHolds releases every hold past its expiry, in batches.
func (s *Service) SweepExpiredHolds(ctx context.Context) (int, error) {
	total := 0
	for {
		n, err := s.store.ReleaseExpiredHolds(ctx, s.now(), sweepBatch)
		total += n
		if n > 0 {
			s.metrics.HoldsExpired(n)
		}
		if err != nil {
			return total, fmt.Errorf("release expired holds: %w", err)
		}
		if n < sweepBatch {
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
