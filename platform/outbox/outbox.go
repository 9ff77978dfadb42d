// Package outbox hands emails and webhook events to the notify service
// through a transactional outbox built on River (the job queue each service
// keeps in its own database).
//
// A producer inserts an Email job with EnqueueEmail, or an Event job with
// EnqueueEvent, in the same transaction as the change that causes it: the
// email or event exists exactly when the change does. The producer's River
// client works the job off with EmailWorker (notify's SendEmail) or
// EventWorker (notify's PublishEvent), with the idempotency key
// "<service>:<job id>", and retries with River's backoff. Notify stores each
// key once, so a crash after the call but before River marks the job done
// (a second call) sends nothing twice, and a crash before it loses nothing
// (River rescues the job). See docs/adr/0005-notify-service.md and
// docs/adr/0014-event-outboxes.md.
package outbox

import (
	"errors"
	"fmt"

	"github.com/riverqueue/river"
	"google.golang.org/grpc/codes"
)

// Queue is the River queue outbox jobs run on, apart from a service's own
// jobs so that a backlog of one never delays the other.
const Queue = "outbox"

// maxAttempts gives a job about three days of River's backoff before it is
// discarded (notify down that long is an incident, see the runbooks).
const maxAttempts = 20

// Register adds the email worker to workers and the outbox queue, with
// maxWorkers at a time, to queues (a River Config's Queues).
func Register(workers *river.Workers, queues map[string]river.QueueConfig, w *EmailWorker, maxWorkers int) error {
	if w == nil || w.Notify == nil || w.Service == "" {
		return errors.New("outbox: the email worker needs a notify client and the service's name")
	}
	if err := river.AddWorkerSafely(workers, w); err != nil {
		return fmt.Errorf("outbox: register the email worker: %w", err)
	}
	queues[Queue] = river.QueueConfig{MaxWorkers: maxWorkers}
	return nil
}

// RegisterEvents adds the event worker to workers and the outbox queue,
// with maxWorkers at a time, to queues; a service with emails too calls
// Register as well (the queue is shared, and so is maxWorkers).
func RegisterEvents(workers *river.Workers, queues map[string]river.QueueConfig, w *EventWorker, maxWorkers int) error {
	if w == nil || w.Notify == nil || w.Service == "" {
		return errors.New("outbox: the event worker needs a notify client and the service's name")
	}
	if err := river.AddWorkerSafely(workers, w); err != nil {
		return fmt.Errorf("outbox: register the event worker: %w", err)
	}
	queues[Queue] = river.QueueConfig{MaxWorkers: maxWorkers}
	return nil
}

// refused reports whether notify refused a request itself (bad template,
// recipient, type or data): no retry can fix it, so the job is cancelled.
// Any other failure is retried.
func refused(code codes.Code) bool {
	return code == codes.InvalidArgument || code == codes.NotFound || code == codes.FailedPrecondition
}
