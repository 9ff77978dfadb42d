package wallet

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/meterflow/meterflow/platform/idempotency"
	"github.com/meterflow/meterflow/platform/validation"
)

// CreateTopUpRequest is a user's request for a Checkout Session.
type CreateTopUpRequest struct {
	UserID      uuid.UUID
	AmountCents int64
	// SuccessURL and CancelURL are optional absolute http(s) URLs on one of
	// Config.ReturnOrigins. TopUpIDPlaceholder in either is replaced by the
	// new top-up's id, so the page Checkout returns to can show that
	// top-up (the caller cannot know its id before).
	SuccessURL     string
	CancelURL      string
	IdempotencyKey string
}

// TopUpIDPlaceholder in a top-up's success_url or cancel_url stands for
// the top-up's id (as Stripe's own {CHECKOUT_SESSION_ID} stands for the
// session's, which passes through unchanged).
const TopUpIDPlaceholder = "{TOPUP_ID}"

// topUpSnapshot is the stored response of a keyed CreateTopUp, replayed as is.
type topUpSnapshot struct {
	ID                uuid.UUID `json:"id"`
	UserID            uuid.UUID `json:"user_id"`
	AmountCents       int64     `json:"amount_cents"`
	Currency          string    `json:"currency"`
	Status            string    `json:"status"`
	CheckoutSessionID string    `json:"checkout_session_id"`
	CheckoutURL       string    `json:"checkout_url"`
	CreatedAt         time.Time `json:"created_at"`
}

// CreateTopUp opens a Checkout Session for a pending top-up.
//
// With an Idempotency-Key, a repeat of the same request replays the first
// response and creates nothing; only one Stripe session is ever created per
// key. When Stripe fails, the top-up is marked failed and the key forgotten,
// so the client may retry with the same key.
func (s *Service) CreateTopUp(ctx context.Context, r CreateTopUpRequest) (TopUp, error) {
	if r.AmountCents < s.cfg.TopUpMinCents || r.AmountCents > s.cfg.TopUpMaxCents {
		return TopUp{}, validation.Field("amount_cents", fmt.Sprintf("must be between %d and %d", s.cfg.TopUpMinCents, s.cfg.TopUpMaxCents))
	}
	for _, f := range []struct{ name, v string }{{"success_url", r.SuccessURL}, {"cancel_url", r.CancelURL}} {
		if err := s.checkReturnURL(f.name, f.v); err != nil {
			return TopUp{}, err
		}
	}
	if err := idempotency.CheckKey(r.IdempotencyKey); err != nil {
		return TopUp{}, err
	}
	topUpID := newID()
	var key *IdempotencyKey
	if r.IdempotencyKey != "" {
		key = &IdempotencyKey{UserID: r.UserID, Scope: ScopeTopUp, Key: r.IdempotencyKey}
		st, err := s.store.BeginIdempotent(ctx, s.keyedRequest(*key, idempotency.Hash(r.AmountCents, r.SuccessURL, r.CancelURL), topUpID))
		if err != nil {
			return TopUp{}, fmt.Errorf("create top-up: %w", err)
		}
		if st.Replay {
			var snap topUpSnapshot
			if err := json.Unmarshal(st.Response, &snap); err != nil {
				return TopUp{}, fmt.Errorf("create top-up: decode stored response: %w", err)
			}
			return fromSnapshot(snap), nil
		}
		topUpID = st.ResourceID
	}
	// From here on the work must finish or be undone even if the client goes
	// away: a half-done request would block its key until it turns stale.
	ctx = context.WithoutCancel(ctx)
	t, err := s.store.CreateTopUp(ctx, TopUp{ID: topUpID, UserID: r.UserID, AmountCents: r.AmountCents, Currency: s.cfg.Currency, Status: TopUpPending})
	if err != nil {
		s.abandon(ctx, topUpID, key)
		return TopUp{}, fmt.Errorf("create top-up: %w", err)
	}
	success, cancel := r.SuccessURL, r.CancelURL
	if success == "" {
		success = s.cfg.SuccessURL
	}
	if cancel == "" {
		cancel = s.cfg.CancelURL
	}
	success = strings.ReplaceAll(success, TopUpIDPlaceholder, t.ID.String())
	cancel = strings.ReplaceAll(cancel, TopUpIDPlaceholder, t.ID.String())
	sess, err := s.payments.CreateCheckoutSession(ctx, CheckoutRequest{
		TopUpID: t.ID, UserID: t.UserID, AmountCents: t.AmountCents, Currency: t.Currency,
		SuccessURL: success, CancelURL: cancel, IdempotencyKey: stripeIdempotencyKey(r.UserID, r.IdempotencyKey, t.ID),
	})
	if err != nil {
		s.log.ErrorContext(ctx, "stripe checkout session failed", "topup_id", t.ID, "err", err)
		s.abandon(ctx, t.ID, key)
		return TopUp{}, fmt.Errorf("%w: %w", ErrPaymentProvider, err)
	}
	t.CheckoutSessionID, t.CheckoutURL, t.PaymentIntentID = sess.ID, sess.URL, sess.PaymentIntentID
	resp, err := json.Marshal(toSnapshot(t))
	if err != nil {
		return TopUp{}, fmt.Errorf("create top-up: encode response: %w", err)
	}
	t, err = s.store.AttachCheckoutSession(ctx, t.ID, sess, key, resp)
	if err != nil {
		// The session exists at Stripe but we could not record it. The
		// idempotency record stays processing; once stale, a retry with the
		// same key reuses this top-up id and Stripe's idempotency returns the
		// same session.
		return TopUp{}, fmt.Errorf("create top-up: record session: %w", err)
	}
	s.log.InfoContext(ctx, "top-up created", "topup_id", t.ID, "user_id", t.UserID, "amount_cents", t.AmountCents)
	return t, nil
}

func (s *Service) abandon(ctx context.Context, id uuid.UUID, key *IdempotencyKey) {
	if err := s.store.AbandonTopUp(ctx, id, key); err != nil {
		s.log.ErrorContext(ctx, "could not abandon top-up", "topup_id", id, "err", err)
	}
}

// GetTopUp returns one of the user's top-ups; another user's is ErrNotFound.
func (s *Service) GetTopUp(ctx context.Context, userID, id uuid.UUID) (TopUp, error) {
	t, err := s.store.GetTopUp(ctx, id)
	if err != nil {
		return TopUp{}, fmt.Errorf("get top-up: %w", err)
	}
	if t.UserID != userID {
		return TopUp{}, fmt.Errorf("get top-up: %w", ErrNotFound)
	}
	return t, nil
}

// stripeIdempotencyKey derives the key sent to Stripe from the user, the
// client's key and the top-up id: a request taking over an abandoned one
// reuses the top-up id and so gets Stripe's first session back, while a retry
// after a provider failure (a new top-up) asks for a fresh one.
func stripeIdempotencyKey(userID uuid.UUID, clientKey string, topUpID uuid.UUID) string {
	sum := sha256.Sum256([]byte(userID.String() + "\x00" + clientKey + "\x00" + topUpID.String()))
	return "meterflow-topup-" + hex.EncodeToString(sum[:16])
}

func toSnapshot(t TopUp) topUpSnapshot {
	return topUpSnapshot{ID: t.ID, UserID: t.UserID, AmountCents: t.AmountCents, Currency: t.Currency, Status: t.Status,
		CheckoutSessionID: t.CheckoutSessionID, CheckoutURL: t.CheckoutURL, CreatedAt: t.CreatedAt}
}

func fromSnapshot(s topUpSnapshot) TopUp {
	return TopUp{ID: s.ID, UserID: s.UserID, AmountCents: s.AmountCents, Currency: s.Currency, Status: s.Status,
		CheckoutSessionID: s.CheckoutSessionID, CheckoutURL: s.CheckoutURL, CreatedAt: s.CreatedAt}
}
