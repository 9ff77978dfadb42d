// Package webhooks holds the rules of outgoing webhooks (docs/webhooks.md):
// a user's endpoints and their secrets (endpoints.go), events stored once
// per producer's key and fanned out to the subscribed endpoints
// (publish.go), and one signed attempt at a delivery with its retry
// schedule and the disabling rule (deliver.go, schedule.go). It declares
// the ports it needs (ports.go) and imports neither gRPC, HTTP nor Postgres.
package webhooks

import (
	"slices"
	"time"

	"github.com/google/uuid"
)

// The event types of the public contract. Ping is sent only by SendTest.
const (
	EventRunSucceeded     = "run.succeeded"
	EventRunFailed        = "run.failed"
	EventTopUpPaid        = "topup.paid"
	EventWalletLowBalance = "wallet.low_balance"
	EventPing             = "ping"
)

// SubscribableEvents are the types an endpoint may subscribe to and a
// producer may publish.
var SubscribableEvents = []string{EventRunSucceeded, EventRunFailed, EventTopUpPaid, EventWalletLowBalance}

// Subscribable reports whether t is one of SubscribableEvents.
func Subscribable(t string) bool { return slices.Contains(SubscribableEvents, t) }

// Status is where a delivery is in its life.
type Status string

// The statuses of a delivery.
const (
	// StatusPending: an attempt is due, running or scheduled.
	StatusPending Status = "pending"
	// StatusSucceeded: the endpoint answered 2xx.
	StatusSucceeded Status = "succeeded"
	// StatusFailed: every attempt failed, or the endpoint was disabled.
	StatusFailed Status = "failed"
)

// Valid reports whether s is one of the three statuses.
func (s Status) Valid() bool {
	return s == StatusPending || s == StatusSucceeded || s == StatusFailed
}

// Endpoint is a user's webhook endpoint as stored: its secrets sealed.
type Endpoint struct {
	ID             uuid.UUID
	UserID         uuid.UUID
	URL            string
	Events         []string
	Description    string
	Enabled        bool
	DisabledReason string
	// SecretSealed is the signing secret's text ("whsec_..."), sealed and
	// bound to the endpoint's id.
	SecretSealed []byte
	// PreviousSecretSealed still signs until PreviousExpiresAt (after a
	// rotation); nil otherwise.
	PreviousSecretSealed []byte
	PreviousExpiresAt    *time.Time
	// FailingSince is the first failed attempt since the last success.
	FailingSince *time.Time
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Subscribed reports whether the endpoint takes events of type t.
func (e Endpoint) Subscribed(t string) bool { return slices.Contains(e.Events, t) }

// Event is one event for a user: a producer's (PublishEvent) or a ping.
type Event struct {
	ID             uuid.UUID
	Producer       string
	IdempotencyKey string
	RequestHash    []byte
	UserID         uuid.UUID
	Type           string
	// Body is exactly what every attempt POSTs: {"type","timestamp","data"}.
	Body       []byte
	OccurredAt time.Time
	CreatedAt  time.Time
}

// Delivery is one event to one endpoint.
type Delivery struct {
	// ID is the webhook-id of every attempt (DeliveryID formats it).
	ID         uuid.UUID
	EndpointID uuid.UUID
	EventID    uuid.UUID
	UserID     uuid.UUID
	EventType  string
	Status     Status
	Attempts   int
	// NextAttemptAt is when the next attempt is due (nil while one runs
	// and once final).
	NextAttemptAt      *time.Time
	LastAttemptAt      *time.Time
	LastResponseStatus int
	LastError          string
	CreatedAt          time.Time
	FinishedAt         *time.Time
}

// AttemptRecord is what one attempt did, as the store records it.
type AttemptRecord struct {
	DeliveryID uuid.UUID
	EndpointID uuid.UUID
	N          int
	StartedAt  time.Time
	Duration   time.Duration
	// ResponseStatus is the HTTP status (0: no answer).
	ResponseStatus int
	// Error is empty on success.
	Error     string
	Succeeded bool
	// RetryAt is when the next attempt runs; zero when none follows (the
	// delivery is then failed unless it succeeded).
	RetryAt time.Time
	// Gone: the endpoint answered 410, which disables it at once.
	Gone bool
}
