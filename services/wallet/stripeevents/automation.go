package stripeevents

import "time"

// DisputeEvent returns a charge.dispute.created or charge.dispute.closed
// event (typ) with event id id ("" for a random one); status is Stripe's
// (needs_response, won, lost, ...).
func DisputeEvent(id, typ, disputeID, chargeID, paymentIntentID, status string, amount int64) []byte {
	return envelope(id, typ, map[string]any{
		"id": disputeID, "object": "dispute", "amount": amount, "charge": chargeID,
		"payment_intent": paymentIntentID, "status": status, "currency": "usd",
	})
}

// PaymentIntent describes the PaymentIntent a payment_intent.* event is about.
type PaymentIntent struct {
	ID       string
	Amount   int64
	Currency string // "usd" when empty
	Metadata map[string]string
	// Failure code and message of payment_intent.payment_failed
	// (last_payment_error), e.g. "card_declined", "authentication_required".
	FailureCode    string
	FailureMessage string
}

// PaymentIntentEvent returns a payment_intent.succeeded or
// payment_intent.payment_failed event (typ) for pi.
func PaymentIntentEvent(id, typ string, pi PaymentIntent) []byte {
	if pi.Currency == "" {
		pi.Currency = "usd"
	}
	obj := map[string]any{"id": pi.ID, "object": "payment_intent", "amount": pi.Amount, "currency": pi.Currency,
		"metadata": pi.Metadata, "status": "requires_payment_method", "amount_received": 0}
	if typ == "payment_intent.succeeded" {
		obj["status"], obj["amount_received"] = "succeeded", pi.Amount
	}
	if pi.FailureCode != "" {
		obj["last_payment_error"] = map[string]any{"type": "card_error", "code": pi.FailureCode, "message": pi.FailureMessage}
	}
	return envelope(id, typ, obj)
}

// SetupSession describes a setup-mode Checkout Session (saving a card).
type SetupSession struct {
	ID            string
	UserID        string
	CustomerID    string
	SetupIntentID string
	// Created is the session's creation (Unix seconds); now when zero.
	Created int64
}

// SetupSessionCompletedEvent returns checkout.session.completed for a
// setup-mode session made by the wallet (purpose payment_method).
func SetupSessionCompletedEvent(id string, s SetupSession) []byte {
	obj := map[string]any{
		"id": s.ID, "object": "checkout.session", "mode": "setup", "status": "complete",
		"client_reference_id": s.UserID, "customer": s.CustomerID, "setup_intent": s.SetupIntentID,
		"metadata": map[string]string{"purpose": "payment_method", "user_id": s.UserID}, "payment_status": "no_payment_required",
	}
	obj["created"] = s.Created
	if s.Created == 0 {
		obj["created"] = time.Now().Unix()
	}
	return envelope(id, "checkout.session.completed", obj)
}
