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
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
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
	return register(workers, queues, w, "email", maxWorkers)
}

// RegisterEvents adds the event worker to workers and the outbox queue,
// with maxWorkers at a time, to queues; a service with emails too calls
// Register as well (the queue is shared, and so is maxWorkers).
func RegisterEvents(workers *river.Workers, queues map[string]river.QueueConfig, w *EventWorker, maxWorkers int) error {
	if w == nil || w.Notify == nil || w.Service == "" {
		return errors.New("outbox: the event worker needs a notify client and the service's name")
	}
	return register(workers, queues, w, "event", maxWorkers)
}

func register[T river.JobArgs](workers *river.Workers, queues map[string]river.QueueConfig, w river.Worker[T], what string, maxWorkers int) error {
	if err := river.AddWorkerSafely(workers, w); err != nil {
		return fmt.Errorf("outbox: register the %s worker: %w", what, err)
	}
	queues[Queue] = river.QueueConfig{MaxWorkers: maxWorkers}
	return nil
}

// traceOf is the trace of ctx, to carry in a job's arguments.
func traceOf(ctx context.Context) map[string]string {
	trace := map[string]string{}
	otel.GetTextMapPropagator().Inject(ctx, propagation.MapCarrier(trace))
	return trace
}

// withTrace continues the trace a job carries.
func withTrace(ctx context.Context, trace map[string]string) context.Context {
	return otel.GetTextMapPropagator().Extract(ctx, propagation.MapCarrier(trace))
}

// insert inserts args, which is what (for errors), in tx.
func insert(ctx context.Context, client *river.Client[pgx.Tx], tx pgx.Tx, args river.JobArgs, what string) error {
	if _, err := client.InsertTx(ctx, tx, args, nil); err != nil {
		return fmt.Errorf("outbox: enqueue %s: %w", what, err)
	}
	return nil
}

// key is the idempotency key of a producer's job: "<service>:<job id>".
func key(service string, jobID int64) string { return fmt.Sprintf("%s:%d", service, jobID) }

// handedOver maps notify's answer about what to the job's result: notify
// refusing the request itself (a bad template, recipient, type or data)
// cancels the job, since no retry can fix it; any other failure is retried.
func handedOver(err error, what string) error {
	switch {
	case err == nil:
		return nil
	case refusedByNotify(err):
		return river.JobCancel(fmt.Errorf("outbox: notify refused the %s: %w", what, err))
	}
	return fmt.Errorf("outbox: hand the %s to notify: %w", what, err)
}

// refusedByNotify reports notify refusing a request itself (a bad
// template, recipient, type or data): no retry can fix it.
func refusedByNotify(err error) bool {
	switch status.Code(err) {
	case codes.InvalidArgument, codes.NotFound, codes.FailedPrecondition:
		return true
	}
	return false
}
