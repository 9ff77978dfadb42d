package stripeclient

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/stripe/stripe-go/v76"

	"github.com/meterflow/meterflow/services/wallet/internal/wallet"
)

// CreateCustomer implements wallet.PaymentProvider: the wallet's Stripe
// Customer, tagged with the user id.
func (c *Client) CreateCustomer(ctx context.Context, r wallet.CustomerRequest) (string, error) {
	params := &stripe.CustomerParams{Description: stripe.String("Meterflow wallet " + r.UserID.String())}
	params.Context = ctx
	params.AddMetadata(wallet.MetadataUserID, r.UserID.String())
	params.SetIdempotencyKey(r.IdempotencyKey)
	cus, err := c.customers.New(params)
	if err != nil {
		return "", fmt.Errorf("stripe: create customer: %w", err)
	}
	return cus.ID, nil
}

// CreateSetupSession implements wallet.PaymentProvider: a setup-mode
// Checkout Session that saves a card on the Customer for off-session
// payments (setup_intent_data carries the purpose and the user).
func (c *Client) CreateSetupSession(ctx context.Context, r wallet.SetupSessionRequest) (string, error) {
	params := &stripe.CheckoutSessionParams{
		Mode:               stripe.String(string(stripe.CheckoutSessionModeSetup)),
		Customer:           stripe.String(r.CustomerID),
		Currency:           stripe.String(r.Currency),
		PaymentMethodTypes: stripe.StringSlice([]string{"card"}),
		SuccessURL:         stripe.String(r.SuccessURL),
		CancelURL:          stripe.String(r.CancelURL),
		ClientReferenceID:  stripe.String(r.UserID.String()),
		SetupIntentData:    &stripe.CheckoutSessionSetupIntentDataParams{},
	}
	params.Context = ctx
	params.AddMetadata(wallet.MetadataPurpose, wallet.PurposePaymentMethod)
	params.AddMetadata(wallet.MetadataUserID, r.UserID.String())
	params.SetupIntentData.AddMetadata(wallet.MetadataPurpose, wallet.PurposePaymentMethod)
	params.SetupIntentData.AddMetadata(wallet.MetadataUserID, r.UserID.String())
	s, err := c.sessions.New(params)
	if err != nil {
		return "", fmt.Errorf("stripe: create setup session: %w", err)
	}
	if s.URL == "" {
		return "", errors.New("stripe: setup session without url")
	}
	return s.URL, nil
}

// SetupIntentCard implements wallet.PaymentProvider: the SetupIntent with
// its PaymentMethod expanded.
func (c *Client) SetupIntentCard(ctx context.Context, id string) (wallet.Card, error) {
	params := &stripe.SetupIntentParams{}
	params.Context = ctx
	params.AddExpand("payment_method")
	si, err := c.setupIntents.Get(id, params)
	var se *stripe.Error
	if errors.As(err, &se) && se.HTTPStatusCode == http.StatusNotFound {
		return wallet.Card{}, fmt.Errorf("stripe: setup intent %s: %w", id, wallet.ErrUnknownPaymentIntent)
	}
	if err != nil {
		return wallet.Card{}, fmt.Errorf("stripe: retrieve setup intent: %w", err)
	}
	pm := si.PaymentMethod
	if pm == nil || pm.ID == "" || pm.Card == nil {
		return wallet.Card{}, fmt.Errorf("stripe: setup intent %s saved no card", id)
	}
	return wallet.Card{PaymentMethodID: pm.ID, Brand: string(pm.Card.Brand), Last4: pm.Card.Last4,
		ExpMonth: int(pm.Card.ExpMonth), ExpYear: int(pm.Card.ExpYear)}, nil
}

// DetachPaymentMethod implements wallet.PaymentProvider.
func (c *Client) DetachPaymentMethod(ctx context.Context, id string) error {
	params := &stripe.PaymentMethodDetachParams{}
	params.Context = ctx
	if _, err := c.paymentMethods.Detach(id, params); err != nil {
		return fmt.Errorf("stripe: detach payment method: %w", err)
	}
	return nil
}

// ChargeOffSession implements wallet.PaymentProvider: a PaymentIntent with
// off_session=true and confirm=true on the saved card, tagged like a
// Checkout top-up's (topup_id, user_id) plus auto_topup. A card error
// (declined, authentication_required) is a *wallet.CardRefusal naming the
// PaymentIntent Stripe made; other errors are Stripe not answering.
func (c *Client) ChargeOffSession(ctx context.Context, r wallet.OffSessionCharge) (wallet.PaymentIntent, error) {
	params := &stripe.PaymentIntentParams{
		Amount:        stripe.Int64(r.AmountCents),
		Currency:      stripe.String(r.Currency),
		Customer:      stripe.String(r.CustomerID),
		PaymentMethod: stripe.String(r.PaymentMethodID),
		OffSession:    stripe.Bool(true),
		Confirm:       stripe.Bool(true),
		Description:   stripe.String("Meterflow automatic top-up"),
	}
	params.Context = ctx
	params.AddMetadata(wallet.MetadataTopUpID, r.TopUpID.String())
	params.AddMetadata(wallet.MetadataUserID, r.UserID.String())
	params.AddMetadata(wallet.MetadataAutoTopUp, "true")
	params.SetIdempotencyKey(r.IdempotencyKey)
	pi, err := c.paymentIntents.New(params)
	var se *stripe.Error
	if errors.As(err, &se) && se.Type == stripe.ErrorTypeCard {
		ref := &wallet.CardRefusal{Code: string(se.Code), DeclineCode: string(se.DeclineCode), Message: se.Msg}
		if se.PaymentIntent != nil {
			ref.PaymentIntentID = se.PaymentIntent.ID
		}
		return wallet.PaymentIntent{}, ref
	}
	if err != nil {
		return wallet.PaymentIntent{}, fmt.Errorf("stripe: create payment intent: %w", err)
	}
	return wallet.PaymentIntent{ID: pi.ID, Status: string(pi.Status)}, nil
}

// eventPage is how many events one list call returns (Stripe's maximum).
const eventPage = 100

// ListEvents implements wallet.PaymentProvider with stripe-go's iterator,
// which follows has_more/starting_after page by page.
func (c *Client) ListEvents(ctx context.Context, since time.Time, types []string, fn func(wallet.ProviderEvent) error) error {
	params := &stripe.EventListParams{
		CreatedRange: &stripe.RangeQueryParams{GreaterThanOrEqual: since.Unix()},
		Types:        stripe.StringSlice(types),
	}
	params.Context = ctx
	params.Limit = stripe.Int64(eventPage)
	it := c.events.List(params)
	for it.Next() {
		ev := it.Event()
		pe := wallet.ProviderEvent{ID: ev.ID, Type: string(ev.Type), Created: time.Unix(ev.Created, 0).UTC()}
		if ev.Data != nil {
			pe.Object = ev.Data.Raw
		}
		if err := fn(pe); err != nil {
			return err
		}
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("stripe: list events: %w", err)
	}
	return nil
}
