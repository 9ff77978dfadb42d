package outbox

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	notifyv1 "github.com/meterflow/meterflow/proto/gen/meterflow/notify/v1"
)

// Email is one email to hand to notify: the River job's arguments.
type Email struct {
	// ToUserID is the recipient user; notify looks up the address at send
	// time. Set it or ToAddress.
	ToUserID string `json:"to_user_id,omitempty"`
	// ToAddress is a literal recipient address.
	ToAddress string `json:"to_address,omitempty"`
	// Template names notify's template (notify.proto lists them).
	Template string `json:"template"`
	// Data fills the template. It may hold secrets (links with tokens): it
	// lives in the producer's database until delivered and is never logged.
	Data map[string]string `json:"data,omitempty"`
	// Trace carries the trace of the request that caused the email, so one
	// trace runs from that request to the SMTP send.
	Trace map[string]string `json:"trace,omitempty"`
}

// Kind implements river.JobArgs.
func (Email) Kind() string { return "outbox_email" }

// InsertOpts implements river.JobArgsWithInsertOpts: the outbox queue, and
// attempts for about three days of River's backoff (maxAttempts).
func (Email) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: Queue, MaxAttempts: maxAttempts}
}

// EnqueueEmail inserts e as a job in tx, with the trace of ctx. The email
// goes out only if tx commits.
func EnqueueEmail(ctx context.Context, client *river.Client[pgx.Tx], tx pgx.Tx, e Email) error {
	if (e.ToUserID == "") == (e.ToAddress == "") || e.Template == "" {
		return fmt.Errorf("outbox: an email needs a template and exactly one of a user and an address")
	}
	e.Trace = traceOf(ctx)
	return insert(ctx, client, tx, e, e.Template+" email")
}

// EmailWorker delivers Email jobs to notify.
type EmailWorker struct {
	river.WorkerDefaults[Email]
	// Notify is a client of the notify service.
	Notify notifyv1.NotifyServiceClient
	// Service names the producer in idempotency keys ("identity", ...).
	Service string
}

// Work implements river.Worker. Notify refusing the email itself (a bad
// template or recipient) cancels the job, since no retry can fix it; any
// other failure is retried.
func (w *EmailWorker) Work(ctx context.Context, job *river.Job[Email]) error {
	ctx = withTrace(ctx, job.Args.Trace)
	req := &notifyv1.SendEmailRequest{
		IdempotencyKey: key(w.Service, job.ID),
		Template:       job.Args.Template,
		Data:           job.Args.Data,
	}
	if job.Args.ToUserID != "" {
		req.Recipient = &notifyv1.SendEmailRequest_ToUserId{ToUserId: job.Args.ToUserID}
	} else {
		req.Recipient = &notifyv1.SendEmailRequest_ToAddress{ToAddress: job.Args.ToAddress}
	}
	_, err := w.Notify.SendEmail(ctx, req)
	return handedOver(err, job.Args.Template+" email")
}

// Timeout implements river.Worker: SendEmail only stores the email.
func (w *EmailWorker) Timeout(*river.Job[Email]) time.Duration { return 30 * time.Second }
