// Package stripeclient creates Stripe Checkout Sessions with stripe-go,
// against Stripe or a stripe-mock at a configurable API base.
package stripeclient

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/checkout/session"

	"github.com/meterflow/meterflow/services/wallet/internal/wallet"
)

// Client implements wallet.PaymentProvider.
type Client struct {
	sessions session.Client
}

var _ wallet.PaymentProvider = (*Client)(nil)

// New returns a client using secretKey against apiBase ("" = Stripe's own
// API). It has its own backend: nothing global in stripe-go is touched.
func New(secretKey, apiBase string) *Client {
	cfg := &stripe.BackendConfig{
		HTTPClient: &http.Client{Timeout: 20 * time.Second},
		// stripe-go retries network errors and 409/5xx with the same
		// idempotency key, which Stripe deduplicates.
		MaxNetworkRetries: stripe.Int64(1),
		LeveledLogger:     &stripe.LeveledLogger{Level: stripe.LevelNull},
	}
	if apiBase != "" {
		cfg.URL = stripe.String(apiBase)
	}
	return &Client{sessions: session.Client{B: stripe.GetBackendWithConfig(stripe.APIBackend, cfg), Key: secretKey}}
}

// CreateCheckoutSession implements wallet.PaymentProvider: a payment-mode
// session for one line item of the top-up amount, tagged with our top-up id
// and user id so webhook events can be matched to our own row only.
func (c *Client) CreateCheckoutSession(ctx context.Context, r wallet.CheckoutRequest) (wallet.CheckoutSession, error) {
	params := &stripe.CheckoutSessionParams{
		Mode:              stripe.String(string(stripe.CheckoutSessionModePayment)),
		ClientReferenceID: stripe.String(r.UserID.String()),
		SuccessURL:        stripe.String(r.SuccessURL),
		CancelURL:         stripe.String(r.CancelURL),
		LineItems: []*stripe.CheckoutSessionLineItemParams{{
			Quantity: stripe.Int64(1),
			PriceData: &stripe.CheckoutSessionLineItemPriceDataParams{
				Currency:    stripe.String(r.Currency),
				UnitAmount:  stripe.Int64(r.AmountCents),
				ProductData: &stripe.CheckoutSessionLineItemPriceDataProductDataParams{Name: stripe.String("Wallet top-up")},
			},
		}},
		PaymentIntentData: &stripe.CheckoutSessionPaymentIntentDataParams{},
	}
	params.Context = ctx
	params.AddMetadata("topup_id", r.TopUpID.String())
	params.PaymentIntentData.AddMetadata("topup_id", r.TopUpID.String())
	params.PaymentIntentData.AddMetadata("user_id", r.UserID.String())
	if r.IdempotencyKey != "" {
		params.SetIdempotencyKey(r.IdempotencyKey)
	}
	s, err := c.sessions.New(params)
	if err != nil {
		return wallet.CheckoutSession{}, fmt.Errorf("stripe: create checkout session: %w", err)
	}
	if s.ID == "" || s.URL == "" {
		return wallet.CheckoutSession{}, fmt.Errorf("stripe: checkout session without id or url")
	}
	// The PaymentIntent is linked later, from the session's webhook events:
	// Stripe creates it lazily, and stripe-mock returns one canned id for all.
	return wallet.CheckoutSession{ID: s.ID, URL: s.URL}, nil
}
