package webhooks

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/meterflow/meterflow/platform/paging"
	"github.com/meterflow/meterflow/services/notify/internal/notify"
)

// Store keeps endpoints, events, deliveries and attempts. Whatever queues
// an attempt (PublishEvent's fan-out, a test, a retry) writes the delivery
// and its job in one transaction.
type Store interface {
	// CreateEndpoint stores e unless its user has max endpoints already
	// (ErrLimitReached); the count and the insert are one decision.
	CreateEndpoint(ctx context.Context, e Endpoint, max int) error
	// Endpoint returns the user's endpoint, or ErrNotFound.
	Endpoint(ctx context.Context, userID, id uuid.UUID) (Endpoint, error)
	// ListEndpoints lists the user's endpoints, newest first, from after.
	ListEndpoints(ctx context.Context, userID uuid.UUID, limit int, after paging.Cursor) ([]Endpoint, error)
	// UpdateEndpoint locks the user's endpoint (any owner's for
	// uuid.Nil: Reseal), lets change decide on it and writes what change
	// returns (ErrNotFound when there is none).
	UpdateEndpoint(ctx context.Context, userID, id uuid.UUID, change func(*Endpoint) error) (Endpoint, error)
	// DeleteEndpoint deletes the user's endpoint with its deliveries.
	DeleteEndpoint(ctx context.Context, userID, id uuid.UUID) error

	// PublishEvent stores ev and, only when its key is new, one delivery
	// per enabled endpoint of its user subscribed to its type, with their
	// jobs. A repeated key stores nothing and returns the first event.
	PublishEvent(ctx context.Context, ev Event, newDelivery func(Endpoint) Delivery) (stored Event, created bool, err error)
	// PublishUnsubscribed stores, in one statement, each of evs whose key
	// is new and that no enabled endpoint of its user is subscribed to
	// (without its body, as PublishEvent does), and says which it stored:
	// stored[i] for evs[i]. Of several events with one key, at most the
	// first is stored. The others are PublishEvent's to store or answer.
	PublishUnsubscribed(ctx context.Context, evs []Event) (stored []bool, err error)
	// CreateTestDelivery stores a ping event and its one delivery, queued.
	CreateTestDelivery(ctx context.Context, ev Event, d Delivery) error
	// RetryDelivery makes the user's delivery pending again and queues
	// one attempt (ErrAlreadyPending when it is pending).
	RetryDelivery(ctx context.Context, userID, id uuid.UUID, now time.Time) (Delivery, error)
	// ListDeliveries lists deliveries, newest first, from after.
	ListDeliveries(ctx context.Context, f DeliveryFilter, limit int, after paging.Cursor) ([]Delivery, error)

	// Attempt loads what an attempt needs: the delivery, its endpoint and
	// the event's body (ErrNotFound when the delivery is gone).
	Attempt(ctx context.Context, deliveryID uuid.UUID) (Delivery, Endpoint, []byte, error)
	// StartAttempt counts the start of an attempt at a pending delivery
	// and returns its number (ErrNotPending when the delivery is final).
	StartAttempt(ctx context.Context, deliveryID uuid.UUID, at time.Time) (int, error)
	// RecordAttempt writes the attempt, its delivery's new state and the
	// endpoint's failure streak in one transaction. decide sees the locked
	// endpoint after that update; a non-nil Disable it returns disables
	// the endpoint and queues its email in the same transaction.
	RecordAttempt(ctx context.Context, r AttemptRecord, decide func(Endpoint) *Disable) (disabled bool, err error)
	// FailDelivery ends a pending delivery without an attempt (its
	// endpoint was disabled meanwhile).
	FailDelivery(ctx context.Context, deliveryID uuid.UUID, reason string) error
}

// DeliveryFilter selects deliveries: a user's, optionally one endpoint's
// and one status.
type DeliveryFilter struct {
	UserID     uuid.UUID
	EndpointID uuid.UUID
	Status     Status
}

// Disable is the decision to disable an endpoint, with the email that
// tells its owner.
type Disable struct {
	Reason string
	Email  notify.Email
}

// Sealer seals secrets at rest (platform/secretbox.Keyring).
type Sealer interface {
	Seal(plaintext []byte, context string) ([]byte, error)
	Open(sealed []byte, context string) ([]byte, error)
}

// Sender POSTs one signed request (platform/safehttp underneath).
type Sender interface {
	Send(ctx context.Context, r Request) Response
}

// Request is one attempt's HTTP request.
type Request struct {
	URL       string
	ID        string
	Timestamp time.Time
	Signature string
	Body      []byte
}

// Response is what came back: Status 0 and Error set when no answer came.
type Response struct {
	Status int
	// Body is the answer, at most 64 KiB of it.
	Body []byte
	// Error says what went wrong in words a user may read (never our
	// internals): "connection refused", "timed out after 15s", ...
	Error string
	// Blocked: the address dialed is not allowed (WEBHOOK_ALLOW_PRIVATE).
	Blocked bool
}

// Emails builds the email that tells a user an endpoint was disabled
// (notify.Service.NewEmail).
type Emails interface {
	NewEmail(ctx context.Context, r notify.Request) (notify.Email, error)
}

// Metrics counts outcomes.
type Metrics interface {
	// Attempted counts one attempt by result (success, http_error,
	// transport_error, blocked).
	Attempted(result string)
	// Finished counts a delivery that reached succeeded or failed.
	Finished(st Status)
	// Disabled counts an endpoint disabled (gone or failing).
	Disabled(why string)
}
