// Package stripeevents builds and signs Stripe webhook events the way Stripe
// sends them, for `wallet dev-pay` and for tests (this module's and the
// gateway's end-to-end tests) that play Stripe's part.
package stripeevents

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"
)

// APIVersion is written into built events. The wallet accepts any version;
// this one is just plausible.
const APIVersion = "2023-10-16"

// Session describes the Checkout Session an event is about.
type Session struct {
	ID                string
	TopUpID           string
	UserID            string
	AmountTotal       int64
	Currency          string
	PaymentStatus     string // "paid", "unpaid"
	PaymentIntentID   string
	ClientReferenceID *string // overrides UserID when set (tests of forged sessions)
}

// NewEventID returns a random event id in Stripe's format.
func NewEventID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return "evt_" + hex.EncodeToString(b)
}

func envelope(id, typ string, object any) []byte {
	if id == "" {
		id = NewEventID()
	}
	ev := map[string]any{
		"id": id, "object": "event", "api_version": APIVersion, "created": time.Now().Unix(),
		"livemode": false, "pending_webhooks": 1, "type": typ,
		"data": map[string]any{"object": object},
	}
	b, _ := json.Marshal(ev)
	return b
}

// CheckoutSessionEvent returns a checkout.session.* event (typ such as
// "checkout.session.completed") with event id id ("" for a random one).
func CheckoutSessionEvent(id, typ string, s Session) []byte {
	ref := s.UserID
	if s.ClientReferenceID != nil {
		ref = *s.ClientReferenceID
	}
	var pi any
	if s.PaymentIntentID != "" {
		pi = s.PaymentIntentID
	}
	return envelope(id, typ, map[string]any{
		"id": s.ID, "object": "checkout.session", "mode": "payment",
		"client_reference_id": ref, "metadata": map[string]string{"topup_id": s.TopUpID},
		"amount_total": s.AmountTotal, "currency": s.Currency, "payment_status": s.PaymentStatus,
		"payment_intent": pi, "status": "complete",
	})
}

// Charge describes the charge a charge.refunded event is about.
type Charge struct {
	ID              string
	PaymentIntentID string
	Amount          int64
	AmountRefunded  int64  // cumulative
	Currency        string // "usd" when empty
	// Metadata is the PaymentIntent's: Stripe copies it onto the charge
	// when it makes the charge.
	Metadata map[string]string
}

// ChargeRefundedEvent returns a charge.refunded event carrying the charge's
// cumulative amount_refunded.
func ChargeRefundedEvent(id, chargeID, paymentIntentID string, amount, amountRefunded int64) []byte {
	return RefundedEvent(id, Charge{ID: chargeID, PaymentIntentID: paymentIntentID, Amount: amount, AmountRefunded: amountRefunded})
}

// RefundedEvent returns a charge.refunded event for c, with event id id
// ("" for a random one).
func RefundedEvent(id string, c Charge) []byte {
	if c.Currency == "" {
		c.Currency = "usd"
	}
	md := c.Metadata
	if md == nil {
		md = map[string]string{}
	}
	return envelope(id, "charge.refunded", map[string]any{
		"id": c.ID, "object": "charge", "amount": c.Amount, "amount_refunded": c.AmountRefunded,
		"payment_intent": c.PaymentIntentID, "refunded": c.AmountRefunded >= c.Amount, "currency": c.Currency,
		"metadata": md,
	})
}

// DisputeClosedEvent returns a charge.dispute.closed event.
func DisputeClosedEvent(id, disputeID, chargeID, paymentIntentID, status string, amount int64) []byte {
	return envelope(id, "charge.dispute.closed", map[string]any{
		"id": disputeID, "object": "dispute", "amount": amount, "charge": chargeID,
		"payment_intent": paymentIntentID, "status": status, "currency": "usd",
	})
}

// Sign returns the Stripe-Signature header for payload signed with secret
// at time at (time.Now() when zero).
func Sign(payload []byte, secret string, at time.Time) string {
	return webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: secret, Timestamp: at}).Header
}
