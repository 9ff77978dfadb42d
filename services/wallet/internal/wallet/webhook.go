package wallet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/meterflow/meterflow/platform/validation"
)

// Stripe event types the wallet acts on.
const (
	EventCheckoutCompleted      = "checkout.session.completed"
	EventCheckoutAsyncSucceeded = "checkout.session.async_payment_succeeded"
	EventCheckoutAsyncFailed    = "checkout.session.async_payment_failed"
	EventCheckoutExpired        = "checkout.session.expired"
	EventChargeRefunded         = "charge.refunded"
	EventChargeDisputeClosed    = "charge.dispute.closed"
	EventChargeDisputeCreated   = "charge.dispute.created"
	EventPaymentIntentSucceeded = "payment_intent.succeeded"
	EventPaymentIntentFailed    = "payment_intent.payment_failed"
	referenceTopUp              = "topup"
	maxEventPayloadBytes        = 1 << 20
	disputeLost                 = "lost"
	checkoutModeSetup           = "setup"
	checkoutPaymentStatusPaid   = "paid"
	outcomeInvalidSignature     = "invalid_signature"
	outcomeMalformed            = "malformed"
	outcomeFailed               = "error"
	descriptionDeposit          = "Wallet top-up"
	descriptionRefund           = "Refund of a top-up"
	descriptionChargeback       = "Lost dispute on a top-up"
	// maxStripeAmountCents bounds the amounts read from events: far above
	// any Stripe charge (at most 8 digits in USD), far below where the
	// top-up's counters and the balance would overflow an int64.
	maxStripeAmountCents = 99_999_999_999
)

// Metadata keys set on every Checkout Session and its PaymentIntent.
const (
	MetadataTopUpID = "topup_id"
	MetadataUserID  = "user_id"
)

// The minimal shapes read from events. They are parsed by hand, not by
// stripe-go's Event type, so any api_version works as long as these fields
// are there.
type stripeEvent struct {
	ID   string `json:"id"`
	Type string `json:"type"`
	// Created is when Stripe created the event (Unix seconds).
	Created int64 `json:"created"`
	Data    struct {
		Object json.RawMessage `json:"object"`
	} `json:"data"`
}

type checkoutSessionObject struct {
	ID                string            `json:"id"`
	ClientReferenceID string            `json:"client_reference_id"`
	Metadata          map[string]string `json:"metadata"`
	AmountTotal       *int64            `json:"amount_total"`
	Currency          string            `json:"currency"`
	PaymentStatus     string            `json:"payment_status"`
	PaymentIntent     expandableID      `json:"payment_intent"`
	// Mode is "payment" for top-ups, "setup" for saving a card.
	Mode        string       `json:"mode"`
	SetupIntent expandableID `json:"setup_intent"`
	Customer    expandableID `json:"customer"`
	Created     int64        `json:"created"`
}

type chargeObject struct {
	ID             string       `json:"id"`
	PaymentIntent  expandableID `json:"payment_intent"`
	AmountRefunded *int64       `json:"amount_refunded"`
	Currency       string       `json:"currency"`
	// Metadata is the PaymentIntent's, copied by Stripe when it made the charge.
	Metadata map[string]string `json:"metadata"`
}

type disputeObject struct {
	ID            string       `json:"id"`
	Status        string       `json:"status"`
	Amount        *int64       `json:"amount"`
	Currency      string       `json:"currency"`
	PaymentIntent expandableID `json:"payment_intent"`
}

// expandableID reads a Stripe reference that is either an id string or an
// expanded object with an "id".
type expandableID string

// UnmarshalJSON implements json.Unmarshaler.
func (e *expandableID) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		*e = ""
		return nil
	}
	if len(b) > 0 && b[0] == '{' {
		var o struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(b, &o); err != nil {
			return err
		}
		*e = expandableID(o.ID)
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	*e = expandableID(s)
	return nil
}

// HandleStripeEvent verifies a webhook's signature (300 s tolerance) before
// reading anything, then applies the event exactly once. Events for sessions
// or payments this deployment did not create, and types it does not handle,
// succeed without writing. An error from the database, and
// ErrEventNotMatchedYet for a refund or dispute whose owner Stripe's API
// could not tell, are returned so the webhook answers 5xx and Stripe
// retries.
func (s *Service) HandleStripeEvent(ctx context.Context, payload []byte, signature string) error {
	if len(payload) > maxEventPayloadBytes {
		return validation.Field("payload", "larger than 1 MiB")
	}
	if err := webhook.ValidatePayloadWithTolerance(payload, signature, s.cfg.WebhookSecret, s.cfg.WebhookTolerance); err != nil {
		s.metrics.WebhookEvent("unknown", outcomeInvalidSignature)
		return fmt.Errorf("%w: %w", ErrInvalidSignature, err)
	}
	var ev stripeEvent
	if err := json.Unmarshal(payload, &ev); err != nil || ev.ID == "" || ev.Type == "" || !nulFree(ev.ID, ev.Type) {
		s.metrics.WebhookEvent("unknown", outcomeMalformed)
		return fmt.Errorf("%w: event id, type or JSON", ErrMalformedEvent)
	}
	log := s.log.With("event_id", ev.ID, "event_type", ev.Type)
	res, err := s.applyEvent(ctx, ev, SourceWebhook)
	switch {
	case errors.Is(err, ErrMalformedEvent):
		s.metrics.WebhookEvent(ev.Type, outcomeMalformed)
		log.ErrorContext(ctx, "signed Stripe event lacks needed fields", "err", err)
		return err
	case err != nil:
		s.metrics.WebhookEvent(ev.Type, outcomeFailed)
		return fmt.Errorf("stripe event %s: %w", ev.ID, err)
	}
	if res.TopUp.Status == TopUpParked && (res.Outcome == OutcomeApplied || res.Outcome == OutcomeNoChange) {
		logParked(ctx, log, res)
		res.Outcome = OutcomeParked
	}
	s.metrics.WebhookEvent(ev.Type, res.Outcome)
	if ev.Created > 0 && res.Outcome != OutcomeDuplicate {
		s.metrics.StripeEventLag(s.now().Sub(time.Unix(ev.Created, 0)))
	}
	s.reportEvent(ctx, log, res)
	if res.Outcome == OutcomeUnmatched {
		log.InfoContext(ctx, "Stripe event for an unknown session or payment acknowledged")
	}
	return nil
}

// reportEvent counts and logs what an applied event booked.
func (s *Service) reportEvent(ctx context.Context, log *slog.Logger, res EventResult) {
	for _, t := range res.Written {
		s.metrics.Booked(t.Kind, t.AmountCents)
		log.InfoContext(ctx, "ledger row booked from Stripe", "kind", t.Kind, "amount_cents", t.AmountCents, "user_id", t.UserID, "topup_id", res.TopUp.ID)
	}
	if res.TopUp.Origin == OriginAuto {
		s.reportAutoTopUp(ctx, res)
	}
	if res.InDebt {
		log.WarnContext(ctx, "account in debt after a chargeback: runs and automatic charges are blocked until the balance is back at zero", "user_id", res.TopUp.UserID)
	}
}

// logParked reports an event that parked its top-up, or that found it
// parked and booked nothing: both need an operator (README, "Parked
// top-ups").
func logParked(ctx context.Context, log *slog.Logger, res EventResult) {
	t := res.TopUp
	msg := "Stripe event for a parked top-up: nothing credited or debited"
	if res.Outcome == OutcomeApplied {
		msg = "top-up parked: Stripe reported its payment in another currency; nothing credited or debited for it until an operator resolves it"
	}
	log.ErrorContext(ctx, msg, "topup_id", t.ID, "user_id", t.UserID, "amount_cents", t.AmountCents,
		"currency", t.Currency, "parked_reason", t.ParkedReason)
}

// Where an applied event came from (stripe_events.source).
const (
	SourceWebhook   = "webhook"
	SourceReconcile = "reconcile"
)

func (s *Service) applyEvent(ctx context.Context, ev stripeEvent, source string) (EventResult, error) {
	ref := EventRef{ID: ev.ID, Type: ev.Type, Source: source}
	log := s.log.With("event_id", ev.ID, "event_type", ev.Type)
	switch ev.Type {
	case EventCheckoutCompleted, EventCheckoutAsyncSucceeded, EventCheckoutAsyncFailed, EventCheckoutExpired:
		var obj checkoutSessionObject
		if err := json.Unmarshal(ev.Data.Object, &obj); err != nil || obj.ID == "" ||
			!nulFree(obj.ID, obj.ClientReferenceID, obj.Metadata[MetadataTopUpID], string(obj.PaymentIntent), string(obj.SetupIntent), string(obj.Customer), obj.Metadata[MetadataUserID]) ||
			(obj.AmountTotal != nil && *obj.AmountTotal > maxStripeAmountCents) {
			return EventResult{}, fmt.Errorf("%w: checkout session id or amount_total", ErrMalformedEvent)
		}
		if obj.Mode == checkoutModeSetup {
			return s.applySetupSession(ctx, log, ref, obj)
		}
		res, err := s.store.ApplyTopUpEvent(ctx, ref, TopUpLookup{CheckoutSessionID: obj.ID}, func(t TopUp, _ Dispute) (TopUpChange, error) {
			c, err := decideCheckout(ctx, log, ev.Type, obj, t, s.now())
			return s.notify(t, c), err
		})
		res.Foreign = res.Outcome == OutcomeUnmatched && obj.Metadata[MetadataTopUpID] == ""
		return res, err
	case EventChargeRefunded:
		var obj chargeObject
		if err := json.Unmarshal(ev.Data.Object, &obj); err != nil || obj.PaymentIntent == "" || obj.AmountRefunded == nil || obj.Currency == "" ||
			!nulFree(string(obj.PaymentIntent), obj.Currency) || *obj.AmountRefunded > maxStripeAmountCents {
			return EventResult{}, fmt.Errorf("%w: charge payment_intent, amount_refunded and currency", ErrMalformedEvent)
		}
		return s.applyPaymentEvent(ctx, log, ref, TopUpLookup{PaymentIntentID: string(obj.PaymentIntent)}, obj.Metadata, func(t TopUp, _ Dispute) TopUpChange {
			return decideRefund(obj, t, s.now())
		})
	case EventChargeDisputeCreated, EventChargeDisputeClosed:
		var obj disputeObject
		if err := json.Unmarshal(ev.Data.Object, &obj); err != nil || obj.ID == "" || obj.Status == "" ||
			!nulFree(obj.ID, string(obj.PaymentIntent), obj.Currency) {
			return EventResult{}, fmt.Errorf("%w: dispute id and status", ErrMalformedEvent)
		}
		if obj.PaymentIntent == "" || obj.Amount == nil || *obj.Amount <= 0 || *obj.Amount > maxStripeAmountCents || obj.Currency == "" {
			return EventResult{}, fmt.Errorf("%w: dispute payment_intent, amount and currency", ErrMalformedEvent)
		}
		// A dispute carries no metadata of the PaymentIntent's: an unlinked
		// one is looked up through Stripe's API.
		find := TopUpLookup{PaymentIntentID: string(obj.PaymentIntent), DisputeID: obj.ID}
		return s.applyPaymentEvent(ctx, log, ref, find, nil, func(t TopUp, d Dispute) TopUpChange {
			return decideDisputeEvent(ev.Type, obj, t, d, s.now())
		})
	case EventPaymentIntentSucceeded, EventPaymentIntentFailed:
		return s.applyPaymentIntentEvent(ctx, log, ref, ev)
	default:
		return EventResult{Outcome: OutcomeIgnored}, nil
	}
}

// nulFree reports whether no string holds U+0000, which Postgres text
// refuses: an event naming one is malformed, not a database failure that
// Stripe would retry forever.
func nulFree(ss ...string) bool {
	for _, s := range ss {
		if strings.IndexByte(s, 0) >= 0 {
			return false
		}
	}
	return true
}

// unchanged returns t's bookkeeping as a change that changes nothing.
func unchanged(t TopUp) TopUpChange {
	return TopUpChange{
		Status: t.Status, PaymentIntentID: t.PaymentIntentID, CreditedAt: t.CreditedAt, CreditedCents: t.CreditedCents,
		AmountRefundedCents: t.AmountRefundedCents, ChargebackCents: t.ChargebackCents,
		ParkedAt: t.ParkedAt, ParkedReason: t.ParkedReason, FailureReason: t.FailureReason,
	}
}

// sameCurrency compares ISO codes; Stripe writes them in lower case.
func sameCurrency(a, b string) bool { return strings.EqualFold(a, b) }

// park turns c into the parking of its top-up, at now: amounts in another
// currency than the top-up's must not be booked as cents of its own,
// whichever event brings them.
func park(c TopUpChange, reason string, now time.Time) TopUpChange {
	c.Status, c.ParkedReason, c.Entries = TopUpParked, reason, nil
	if c.ParkedAt.IsZero() {
		c.ParkedAt = now
	}
	return c
}

// decideCheckout applies a Checkout Session event to our top-up row. We
// trust only our row: the session id found it, and the metadata top-up id and
// the client_reference_id must name the same top-up and user, so one user's
// session can never credit another. A parked top-up is never credited.
// now is when the change happens (credited_at, parked_at).
func decideCheckout(ctx context.Context, log interface {
	ErrorContext(context.Context, string, ...any)
}, typ string, obj checkoutSessionObject, t TopUp, now time.Time) (TopUpChange, error) {
	if obj.Metadata[MetadataTopUpID] != t.ID.String() || obj.ClientReferenceID != t.UserID.String() {
		log.ErrorContext(ctx, "Stripe session does not match our top-up; ignored", "topup_id", t.ID, "session_id", obj.ID)
		return TopUpChange{}, ErrNotOurs
	}
	c := unchanged(t)
	if c.PaymentIntentID == "" {
		c.PaymentIntentID = string(obj.PaymentIntent)
	}
	credit := typ == EventCheckoutAsyncSucceeded || (typ == EventCheckoutCompleted && obj.PaymentStatus == checkoutPaymentStatusPaid)
	switch {
	case t.Status == TopUpParked:
		// Parked stays parked: only an operator resolves it.
	case credit && !t.Credited:
		if obj.AmountTotal == nil || *obj.AmountTotal <= 0 || obj.Currency == "" {
			return TopUpChange{}, fmt.Errorf("%w: amount_total and currency", ErrMalformedEvent)
		}
		amount := *obj.AmountTotal
		if !sameCurrency(obj.Currency, t.Currency) {
			return park(c, fmt.Sprintf("%s reported %d %s for a top-up of %d %s", typ, amount, obj.Currency, t.AmountCents, t.Currency), now), nil
		}
		if amount != t.AmountCents {
			log.ErrorContext(ctx, "Stripe charged a different amount than requested; crediting what Stripe reports",
				"topup_id", t.ID, "requested_cents", t.AmountCents, "amount_total", amount, "currency", obj.Currency)
		}
		c.Status, c.CreditedAt, c.CreditedCents = TopUpPaid, now, amount
		c.Entries = append(c.Entries, LedgerEntry{
			ID: newID(), Kind: KindDeposit, AmountCents: amount, Description: descriptionDeposit,
			ReferenceType: referenceTopUp, ReferenceID: t.ID.String(), SourceKey: "deposit:" + t.ID.String(),
		})
	case typ == EventCheckoutAsyncFailed && t.Status == TopUpPending:
		c.Status = TopUpFailed
	case typ == EventCheckoutExpired && t.Status == TopUpPending:
		c.Status = TopUpExpired
	}
	return c, nil
}

// decideRefund debits only the increase of the cumulative refunded amount
// over the largest one seen, so repeated and out-of-order events never debit
// twice. It may come before the top-up is credited (Stripe does not order
// deliveries): the balance is then negative until the credit arrives.
func decideRefund(obj chargeObject, t TopUp, now time.Time) TopUpChange {
	c := unchanged(t)
	switch {
	case t.Status == TopUpParked:
		return c
	case !sameCurrency(obj.Currency, t.Currency):
		return park(c, fmt.Sprintf("%s reported amount_refunded %d %s for a top-up in %s", EventChargeRefunded, *obj.AmountRefunded, obj.Currency, t.Currency), now)
	}
	refunded := *obj.AmountRefunded
	if refunded <= t.AmountRefundedCents {
		return c
	}
	delta := refunded - t.AmountRefundedCents
	c.AmountRefundedCents = refunded
	c.Entries = append(c.Entries, LedgerEntry{
		ID: newID(), Kind: KindWithdrawal, AmountCents: -delta, Description: descriptionRefund,
		ReferenceType: referenceTopUp, ReferenceID: t.ID.String(),
		SourceKey: fmt.Sprintf("withdrawal:%s:%d", t.ID, refunded),
	})
	return c
}
