package wallet

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/google/uuid"
)

// SetupSessionRequest asks the provider for a setup-mode Checkout Session:
// the customer saves a card for later off-session payments.
type SetupSessionRequest struct {
	UserID     uuid.UUID
	CustomerID string
	Currency   string
	SuccessURL string
	CancelURL  string
}

// CustomerRequest asks the provider for the wallet's Stripe Customer.
type CustomerRequest struct {
	UserID uuid.UUID
	// IdempotencyKey makes concurrent first setups of one user get one
	// Customer.
	IdempotencyKey string
}

// CreatePaymentMethodSession returns the URL of a Stripe Checkout page in
// setup mode for the user's Stripe Customer (created on first use). The
// card is saved when Stripe reports the session completed.
func (s *Service) CreatePaymentMethodSession(ctx context.Context, userID uuid.UUID, successURL, cancelURL string) (string, error) {
	for _, f := range []struct{ name, v string }{{"success_url", successURL}, {"cancel_url", cancelURL}} {
		if err := s.checkReturnURL(f.name, f.v); err != nil {
			return "", err
		}
	}
	if successURL == "" {
		successURL = s.cfg.SuccessURL
	}
	if cancelURL == "" {
		cancelURL = s.cfg.CancelURL
	}
	ctx = context.WithoutCancel(ctx)
	st, err := s.GetSettings(ctx, userID)
	if err != nil {
		return "", err
	}
	customer := st.CustomerID
	if customer == "" {
		customer, err = s.payments.CreateCustomer(ctx, CustomerRequest{UserID: userID, IdempotencyKey: customerIdempotencyKey(userID)})
		if err != nil {
			s.log.ErrorContext(ctx, "stripe customer creation failed", "user_id", userID, "err", err)
			return "", fmt.Errorf("%w: %w", ErrPaymentProvider, err)
		}
		if st, err = s.store.SetCustomer(ctx, s.defaultSettings(userID), customer); err != nil {
			return "", fmt.Errorf("record stripe customer: %w", err)
		}
		customer = st.CustomerID
	}
	url, err := s.payments.CreateSetupSession(ctx, SetupSessionRequest{
		UserID: userID, CustomerID: customer, Currency: s.cfg.Currency, SuccessURL: successURL, CancelURL: cancelURL,
	})
	if err != nil {
		s.log.ErrorContext(ctx, "stripe setup session failed", "user_id", userID, "err", err)
		return "", fmt.Errorf("%w: %w", ErrPaymentProvider, err)
	}
	return url, nil
}

// DeletePaymentMethod forgets the saved card and switches auto top-up off,
// then detaches the card from the Stripe Customer. Idempotent. The card is
// never charged again once the first step committed, whether or not
// Stripe answers the second (logged).
func (s *Service) DeletePaymentMethod(ctx context.Context, userID uuid.UUID) error {
	ctx = context.WithoutCancel(ctx)
	pm, err := s.store.ClearPaymentMethod(ctx, userID)
	if err != nil {
		return fmt.Errorf("delete payment method: %w", err)
	}
	if pm == "" {
		return nil
	}
	if err := s.payments.DetachPaymentMethod(ctx, pm); err != nil {
		s.log.WarnContext(ctx, "saved card forgotten, but Stripe did not detach it from the Customer; detach it in the Dashboard if it stays listed", "user_id", userID, "err", err)
	}
	s.log.InfoContext(ctx, "saved card removed; auto top-up switched off", "user_id", userID)
	return nil
}

func customerIdempotencyKey(userID uuid.UUID) string {
	sum := sha256.Sum256([]byte("customer\x00" + userID.String()))
	return "meterflow-customer-" + hex.EncodeToString(sum[:16])
}
