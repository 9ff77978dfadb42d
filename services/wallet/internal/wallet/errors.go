package wallet

import "errors"

// Errors callers can cause; grpcapi's toStatus maps each to one status.
// Invalid input is a *validation.Error, and a repeated Idempotency-Key
// idempotency.ErrKeyReused or idempotency.ErrInProgress (platform), which
// every service maps alike.
var (
	// ErrNotFound: the hold, top-up or other object does not exist (or is not the caller's).
	ErrNotFound = errors.New("not found")
	// ErrInsufficientFunds: the available balance does not cover the amount.
	ErrInsufficientFunds = errors.New("insufficient funds")
	// ErrSpendLimitExceeded: the hold would take its API key's spend in
	// the current UTC month over the key's monthly limit.
	ErrSpendLimitExceeded = errors.New("api key monthly spend limit exceeded")
	// ErrHoldConflict: the hold is already in the opposite final state.
	ErrHoldConflict = errors.New("hold is already settled the other way")
	// ErrInvalidSignature: the Stripe-Signature header does not verify.
	ErrInvalidSignature = errors.New("invalid Stripe signature")
	// ErrMalformedEvent: a signed event lacks a field its handling needs.
	ErrMalformedEvent = errors.New("stripe event lacks a required field")
	// ErrPaymentProvider: Stripe could not be reached or refused the request.
	ErrPaymentProvider = errors.New("payment provider error")
	// ErrEventNotMatchedYet: a refund or dispute names a PaymentIntent not
	// linked to a top-up yet, and Stripe's API could not say whose it is.
	// Answered with a 5xx so that Stripe delivers the event again.
	ErrEventNotMatchedYet = errors.New("stripe event cannot be matched to a top-up yet")
	// ErrUnknownPaymentIntent: Stripe's API does not know the PaymentIntent
	// (returned by PaymentProvider.PaymentIntentMetadata).
	ErrUnknownPaymentIntent = errors.New("no such PaymentIntent")
	// ErrNotOurs is returned by the decide functions of ApplyTopUpEvent for
	// an event that names one of our sessions but not our top-up or user:
	// the store rolls back and reports the event as unmatched.
	ErrNotOurs = errors.New("event does not belong to this top-up")
	// ErrNoPaymentMethod: auto top-up cannot be switched on without a
	// saved card.
	ErrNoPaymentMethod = errors.New("no saved payment method")
)
