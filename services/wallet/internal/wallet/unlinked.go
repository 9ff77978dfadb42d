package wallet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"time"

	"github.com/google/uuid"
)

// Refunds and disputes name a PaymentIntent, and a top-up learns its
// PaymentIntent from its session's events (checkout.session.completed). But
// Stripe does not order deliveries: a refund or a lost dispute can arrive
// while the completion is still in Stripe's retry backoff. Such an event
// finds its top-up through the PaymentIntent's metadata instead, which
// every Checkout Session we create sets (payment_intent_data.metadata):
// read from the charge, onto which Stripe copies the PaymentIntent's
// metadata when it makes the charge, or else from Stripe's API. A
// PaymentIntent that names no top-up of ours belongs to someone else on a
// shared Stripe account: acknowledged, nothing written. One whose metadata
// cannot be read (Stripe's API down) is refused with ErrEventNotMatchedYet,
// so that Stripe delivers the event again.

// Results of matching an unlinked PaymentIntent through its metadata: the
// values of Metrics.UnlinkedPayment.
const (
	// UnlinkedMatched: the metadata named one of our top-ups; the event
	// linked the PaymentIntent to it and was applied.
	UnlinkedMatched = "matched"
	// UnlinkedNotOurs: no top-up of ours (no topup_id, an unknown one, or
	// one whose user or PaymentIntent differs); acknowledged.
	UnlinkedNotOurs = "not_ours"
	// UnlinkedRetry: Stripe's API did not answer; refused so Stripe retries.
	UnlinkedRetry = "retry"
)

// paymentIntentLookupTimeout bounds the call to Stripe's API, inside the
// gateway's 10 s budget for a webhook.
const paymentIntentLookupTimeout = 5 * time.Second

// paymentIntentID is the shape of Stripe's PaymentIntent ids. Anything else
// cannot be a PaymentIntent of ours and is not looked up.
var paymentIntentID = regexp.MustCompile(`^pi_[A-Za-z0-9_-]{1,250}$`)

// paymentOwner is the top-up and user a PaymentIntent's metadata names.
type paymentOwner struct {
	topUpID uuid.UUID
	userID  string
}

// owns reports whether t is the top-up the metadata names, for
// PaymentIntent pi: same user, a Checkout Session of ours, and no other
// PaymentIntent linked to it.
func (o paymentOwner) owns(t TopUp, pi string) bool {
	return t.UserID.String() == o.userID && (t.CheckoutSessionID != "" || t.Origin == OriginAuto) &&
		(t.PaymentIntentID == "" || t.PaymentIntentID == pi)
}

// applyPaymentEvent applies a refund, dispute or PaymentIntent event
// (decide) to the top-up linked to PaymentIntent find.PaymentIntentID, or,
// when none is linked yet, to the top-up its metadata names, linking it on
// the way. carried is metadata the event itself holds (a charge's, a
// PaymentIntent's), used before asking Stripe's API. find.DisputeID names
// the dispute row decide is given.
func (s *Service) applyPaymentEvent(ctx context.Context, log *slog.Logger, ref EventRef, find TopUpLookup, carried map[string]string, decide func(TopUp, Dispute) TopUpChange) (EventResult, error) {
	pi := find.PaymentIntentID
	res, err := s.store.ApplyTopUpEvent(ctx, ref, find, func(t TopUp, d Dispute) (TopUpChange, error) {
		return s.notify(t, decide(t, d)), nil
	})
	if err != nil || res.Outcome != OutcomeUnmatched {
		return res, err
	}
	owner, ok, err := s.paymentOwner(ctx, pi, carried)
	if err != nil {
		s.metrics.UnlinkedPayment(UnlinkedRetry)
		log.ErrorContext(ctx, "Stripe refund or dispute not matched: its PaymentIntent is not linked to a top-up yet and Stripe's API did not say whose it is; answering 5xx so that Stripe retries",
			"payment_intent", pi, "err", err)
		return EventResult{}, fmt.Errorf("%w: PaymentIntent %s: %w", ErrEventNotMatchedYet, pi, err)
	}
	if !ok {
		s.metrics.UnlinkedPayment(UnlinkedNotOurs)
		return EventResult{Outcome: OutcomeUnmatched, Foreign: true}, nil
	}
	res, err = s.store.ApplyTopUpEvent(ctx, ref, TopUpLookup{TopUpID: owner.topUpID, DisputeID: find.DisputeID}, func(t TopUp, d Dispute) (TopUpChange, error) {
		if !owner.owns(t, pi) {
			log.ErrorContext(ctx, "PaymentIntent metadata names our top-up but another user or PaymentIntent; ignored",
				"payment_intent", pi, "topup_id", t.ID, "linked_payment_intent", t.PaymentIntentID)
			return TopUpChange{}, ErrNotOurs
		}
		c := decide(t, d)
		c.PaymentIntentID = pi
		return s.notify(t, c), nil
	})
	switch {
	case err != nil:
		return res, err
	case res.Outcome == OutcomeUnmatched:
		s.metrics.UnlinkedPayment(UnlinkedNotOurs)
		log.WarnContext(ctx, "PaymentIntent metadata names a top-up this deployment does not have; acknowledged", "payment_intent", pi, "topup_id", owner.topUpID)
	default:
		s.metrics.UnlinkedPayment(UnlinkedMatched)
		log.InfoContext(ctx, "PaymentIntent linked to its top-up from its metadata, before the session's completion", "payment_intent", pi, "topup_id", owner.topUpID)
	}
	return res, nil
}

// paymentOwner reads whose PaymentIntent pi is: from carried when it names
// a top-up, else from Stripe's API. ok is false when it is not ours; err is
// set only when Stripe could not answer.
func (s *Service) paymentOwner(ctx context.Context, pi string, carried map[string]string) (o paymentOwner, ok bool, err error) {
	md := carried
	if md[MetadataTopUpID] == "" {
		if !paymentIntentID.MatchString(pi) {
			return paymentOwner{}, false, nil
		}
		lctx, cancel := context.WithTimeout(ctx, paymentIntentLookupTimeout)
		defer cancel()
		md, err = s.payments.PaymentIntentMetadata(lctx, pi)
		if errors.Is(err, ErrUnknownPaymentIntent) {
			// Our sessions are made with our key: a PaymentIntent it cannot
			// see is not one of them.
			return paymentOwner{}, false, nil
		}
		if err != nil {
			return paymentOwner{}, false, err
		}
	}
	id, perr := uuid.Parse(md[MetadataTopUpID])
	if perr != nil || md[MetadataUserID] == "" {
		return paymentOwner{}, false, nil
	}
	return paymentOwner{topUpID: id, userID: md[MetadataUserID]}, true, nil
}
