package outbox

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	notifyv1 "github.com/meterflow/meterflow/proto/gen/meterflow/notify/v1"
)

// Event is one webhook event to hand to notify, which delivers it to the
// user's endpoints subscribed to its type: the River job's arguments.
type Event struct {
	// UserID is the user whose endpoints receive the event.
	UserID string `json:"user_id"`
	// Type is the event type (run.succeeded, run.failed, topup.paid,
	// wallet.low_balance; notify.proto lists them).
	Type string `json:"type"`
	// Data is the delivered body's "data": a JSON object, exactly as the
	// public API shows it. It is rendered when the change is made, so
	// every attempt delivers the same bytes; the job keeps them as they are
	// (base64 in its arguments: River stores arguments as jsonb, which
	// would reorder an object's fields).
	Data []byte `json:"data"`
	// OccurredAt is when the change happened (the delivered "timestamp");
	// EnqueueEvent sets it to now when zero.
	OccurredAt time.Time `json:"occurred_at"`
	// Trace carries the trace of the request that caused the event.
	Trace map[string]string `json:"trace,omitempty"`
}

// Kind implements river.JobArgs.
func (Event) Kind() string { return "outbox_event" }

// InsertOpts implements river.JobArgsWithInsertOpts: the outbox queue and
// the emails' attempts (maxAttempts).
func (Event) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: Queue, MaxAttempts: maxAttempts}
}

// EnqueueEvent inserts e as a job in tx, with the trace of ctx. The event
// reaches notify only if tx commits, and once per commit: the caller
// enqueues it in the transaction that decides it, so a replay that
// changes nothing enqueues nothing.
func EnqueueEvent(ctx context.Context, client *river.Client[pgx.Tx], tx pgx.Tx, e Event) error {
	e.Trace = traceOf(ctx)
	job, err := EventJob(e)
	if err != nil {
		return err
	}
	return insert(ctx, client, tx, job.Args, e.Type+" event")
}

// EventJob checks e and returns it as a job for River's InsertManyTx, for a
// transaction that decides several events at once (a batch of runs): the
// same rules as EnqueueEvent, but e keeps its own Trace (Trace(ctx) of the
// call that caused it).
func EventJob(e Event) (river.InsertManyParams, error) {
	if err := check(e); err != nil {
		return river.InsertManyParams{}, err
	}
	if e.OccurredAt.IsZero() {
		e.OccurredAt = time.Now()
	}
	return river.InsertManyParams{Args: e}, nil
}

// check: an event needs a user, a type and a JSON object as its data.
func check(e Event) error {
	if e.UserID == "" || e.Type == "" {
		return fmt.Errorf("outbox: an event needs a user and a type")
	}
	if d := bytes.TrimSpace(e.Data); len(d) == 0 || d[0] != '{' || !json.Valid(d) {
		return fmt.Errorf("outbox: the %s event's data is not a JSON object", e.Type)
	}
	return nil
}

// Trace is the trace of ctx as an Event or Email carries it.
func Trace(ctx context.Context) map[string]string { return traceOf(ctx) }

// EventWorker delivers Event jobs to notify.
type EventWorker struct {
	river.WorkerDefaults[Event]
	// Notify is a client of the notify service.
	Notify notifyv1.NotifyServiceClient
	// Service names the producer in idempotency keys ("workflow", ...).
	Service string
}

// Work implements river.Worker. Notify refusing the event itself (an
// unknown type, data that is not an object) cancels the job, since no
// retry can fix it; any other failure is retried. Notify answers the
// first call's event for a repeated key, so every endpoint sees one
// webhook-id per job however often it runs.
func (w *EventWorker) Work(ctx context.Context, job *river.Job[Event]) error {
	_, err := w.Notify.PublishEvent(withTrace(ctx, job.Args.Trace), &notifyv1.PublishEventRequest{
		IdempotencyKey:   key(w.Service, job.ID),
		UserId:           job.Args.UserID,
		Type:             job.Args.Type,
		DataJson:         job.Args.Data,
		OccurredAtUnixMs: job.Args.OccurredAt.UnixMilli(),
	})
	return handedOver(err, job.Args.Type+" event")
}

// Timeout implements river.Worker: PublishEvent only stores the event.
func (w *EventWorker) Timeout(*river.Job[Event]) time.Duration { return 30 * time.Second }
