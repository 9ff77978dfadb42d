package wallet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
)

// Metadata of a setup-mode Checkout Session (saving a card).
const (
	MetadataPurpose        = "purpose"
	PurposePaymentMethod   = "payment_method"
	referencePaymentIntent = "payment_intent"
	descriptionAutoTopUp   = "Automatic top-up"
	// setupIntentLookupTimeout bounds reading the saved card from Stripe,
	// inside the gateway's 10 s budget for a webhook.
	setupIntentLookupTimeout = 5 * time.Second
)

type paymentIntentObject struct {
	ID             string            `json:"id"`
	Amount         *int64            `json:"amount"`
	AmountReceived *int64            `json:"amount_received"`
	Currency       string            `json:"currency"`
	Metadata       map[string]string `json:"metadata"`
	LastError      *struct {
		Code        string `json:"code"`
		DeclineCode string `json:"decline_code"`
		Message     string `json:"message"`
	} `json:"last_payment_error"`
}

// applyPaymentIntentEvent credits an automatic top-up on
// payment_intent.succeeded and fails it on payment_intent.payment_failed.
// PaymentIntents of Checkout Sessions are credited by their session's
// events and ignored here.
func (s *Service) applyPaymentIntentEvent(ctx context.Context, log *slog.Logger, ref EventRef, ev stripeEvent) (EventResult, error) {
	var obj paymentIntentObject
	if err := json.Unmarshal(ev.Data.Object, &obj); err != nil || !paymentIntentID.MatchString(obj.ID) || obj.Currency == "" ||
		!nulFree(obj.Currency, obj.Metadata[MetadataTopUpID], obj.Metadata[MetadataUserID]) {
		return EventResult{}, fmt.Errorf("%w: payment intent id and currency", ErrMalformedEvent)
	}
	if obj.Metadata[MetadataAutoTopUp] == "" {
		return EventResult{Outcome: OutcomeIgnored}, nil
	}
	succeeded := ev.Type == EventPaymentIntentSucceeded
	amount := obj.AmountReceived
	if amount == nil || *amount <= 0 {
		amount = obj.Amount
	}
	if succeeded && (amount == nil || *amount <= 0 || *amount > maxStripeAmountCents) {
		return EventResult{}, fmt.Errorf("%w: payment intent amount_received", ErrMalformedEvent)
	}
	res, err := s.applyPaymentEvent(ctx, log, ref, TopUpLookup{PaymentIntentID: obj.ID}, obj.Metadata, func(t TopUp, _ Dispute) TopUpChange {
		if t.Origin != OriginAuto {
			return unchanged(t)
		}
		if succeeded {
			return decideAutoSuccess(obj.ID, *amount, obj.Currency, t, s.now())
		}
		r := &CardRefusal{PaymentIntentID: obj.ID, Code: "payment_failed"}
		if e := obj.LastError; e != nil {
			r.Code, r.DeclineCode, r.Message = e.Code, e.DeclineCode, e.Message
		}
		return decideAutoFailure(t, obj.ID, AutoTopUpResult{Error: r.Reason(), Counted: true})
	})
	return res, err
}

// decideAutoSuccess credits an automatic top-up once: the amount Stripe
// received, kind deposit, referencing the PaymentIntent.
func decideAutoSuccess(pi string, amount int64, currency string, t TopUp, now time.Time) TopUpChange {
	c := unchanged(t)
	switch {
	case t.Status == TopUpParked || t.Credited:
		return c
	case !sameCurrency(currency, t.Currency):
		return park(c, fmt.Sprintf("%s reported %d %s for an automatic top-up of %d %s", EventPaymentIntentSucceeded, amount, currency, t.AmountCents, t.Currency), now)
	}
	if c.PaymentIntentID == "" {
		c.PaymentIntentID = pi
	}
	// A failure recorded first (Stripe does not order deliveries) is
	// overtaken: the money arrived.
	c.Status, c.CreditedAt, c.CreditedCents, c.FailureReason = TopUpPaid, now, amount, ""
	c.AutoTopUp = &AutoTopUpResult{Succeeded: true}
	c.Entries = append(c.Entries, LedgerEntry{
		ID: newID(), Kind: KindDeposit, AmountCents: amount, Description: descriptionAutoTopUp,
		ReferenceType: referencePaymentIntent, ReferenceID: c.PaymentIntentID, SourceKey: "deposit:" + t.ID.String(),
	})
	return c
}

// applySetupSession saves the card of a completed setup-mode Checkout
// Session on the user's settings. The session must carry our purpose and a
// user whose Stripe Customer it names; the card (brand, last4, expiry) is
// read from its SetupIntent through Stripe's API. A newer saved card is
// never replaced by an older session's late event.
func (s *Service) applySetupSession(ctx context.Context, log *slog.Logger, ref EventRef, obj checkoutSessionObject) (EventResult, error) {
	userID, err := uuid.Parse(obj.Metadata[MetadataUserID])
	if ref.Type != EventCheckoutCompleted || obj.Metadata[MetadataPurpose] != PurposePaymentMethod || err != nil || obj.SetupIntent == "" {
		return EventResult{Outcome: OutcomeIgnored}, nil
	}
	lctx, cancel := context.WithTimeout(ctx, setupIntentLookupTimeout)
	card, err := s.payments.SetupIntentCard(lctx, string(obj.SetupIntent))
	cancel()
	if errors.Is(err, ErrUnknownPaymentIntent) {
		return EventResult{Outcome: OutcomeUnmatched}, nil
	}
	if err != nil {
		log.ErrorContext(ctx, "saved card not recorded: Stripe's API did not return the session's SetupIntent; answering 5xx so that Stripe retries", "err", err)
		return EventResult{}, fmt.Errorf("%w: SetupIntent %s: %w", ErrEventNotMatchedYet, obj.SetupIntent, err)
	}
	created := time.Unix(obj.Created, 0).UTC()
	res, err := s.store.ApplySettingsEvent(ctx, ref, s.defaultSettings(userID), func(cur Settings) (Settings, error) {
		if cur.CustomerID == "" || cur.CustomerID != string(obj.Customer) {
			log.ErrorContext(ctx, "setup session names another Stripe Customer than the user's; ignored", "user_id", userID)
			return Settings{}, ErrNotOurs
		}
		if cur.Card != nil && cur.CardSetAt.After(created) {
			return cur, nil
		}
		cur.Card, cur.CardSetAt = &card, created
		return cur, nil
	})
	if err == nil && res.Outcome == OutcomeApplied {
		log.InfoContext(ctx, "card saved for automatic top-ups", "user_id", userID, "brand", card.Brand, "last4", card.Last4)
	}
	return res, err
}
