// Package stripeclient talks to Stripe's API with stripe-go (Checkout
// Sessions, PaymentIntents), against Stripe or a stripe-mock at a
// configurable API base.
package stripeclient

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/checkout/session"
	"github.com/stripe/stripe-go/v76/customer"
	"github.com/stripe/stripe-go/v76/event"
	"github.com/stripe/stripe-go/v76/paymentintent"
	"github.com/stripe/stripe-go/v76/paymentmethod"
	"github.com/stripe/stripe-go/v76/setupintent"

	"github.com/meterflow/meterflow/services/wallet/internal/wallet"
)

// Client implements wallet.PaymentProvider.
type Client struct {
	sessions       session.Client
	paymentIntents paymentintent.Client
	customers      customer.Client
	setupIntents   setupintent.Client
	paymentMethods paymentmethod.Client
	events         event.Client
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
	b := stripe.GetBackendWithConfig(stripe.APIBackend, cfg)
	return &Client{
		sessions: session.Client{B: b, Key: secretKey}, paymentIntents: paymentintent.Client{B: b, Key: secretKey},
		customers: customer.Client{B: b, Key: secretKey}, setupIntents: setupintent.Client{B: b, Key: secretKey},
		paymentMethods: paymentmethod.Client{B: b, Key: secretKey}, events: event.Client{B: b, Key: secretKey},
	}
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
	// The PaymentIntent's metadata is what lets a refund or dispute that
	// arrives before the session's completion find its top-up; Stripe
	// copies it onto the charge too.
	params.AddMetadata(wallet.MetadataTopUpID, r.TopUpID.String())
	params.AddMetadata(wallet.MetadataUserID, r.UserID.String())
	params.PaymentIntentData.AddMetadata(wallet.MetadataTopUpID, r.TopUpID.String())
	params.PaymentIntentData.AddMetadata(wallet.MetadataUserID, r.UserID.String())
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

// PaymentIntentMetadata implements wallet.PaymentProvider.
func (c *Client) PaymentIntentMetadata(ctx context.Context, id string) (map[string]string, error) {
	params := &stripe.PaymentIntentParams{}
	params.Context = ctx
	pi, err := c.paymentIntents.Get(id, params)
	var se *stripe.Error
	if errors.As(err, &se) && se.HTTPStatusCode == http.StatusNotFound {
		return nil, fmt.Errorf("stripe: payment intent %s: %w", id, wallet.ErrUnknownPaymentIntent)
	}
	if err != nil {
		return nil, fmt.Errorf("stripe: retrieve payment intent: %w", err)
	}
	if pi.Metadata == nil {
		return map[string]string{}, nil
	}
	return pi.Metadata, nil
}
