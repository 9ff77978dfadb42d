package queue

import (
	"context"
	"time"

	"github.com/riverqueue/river"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"

	"github.com/meterflow/meterflow/services/notify/internal/postgres"
	"github.com/meterflow/meterflow/services/notify/internal/webhooks"
)

// attemptTimeout bounds one webhook attempt's job: the 15 s request and
// its bookkeeping.
const attemptTimeout = 30 * time.Second

// DeliverWorker makes one attempt at a delivery per run of its job; River
// runs the job again, at the schedule's next time, while Deliver says so.
type DeliverWorker struct {
	river.WorkerDefaults[postgres.DeliverJobArgs]
	Webhooks *webhooks.Service
}

// Work implements river.Worker: it continues the trace of the call that
// queued the delivery.
func (w *DeliverWorker) Work(ctx context.Context, job *river.Job[postgres.DeliverJobArgs]) error {
	ctx = otel.GetTextMapPropagator().Extract(ctx, propagation.MapCarrier(job.Args.Trace))
	a := webhooks.Attempt{DeliveryID: job.Args.DeliveryID, Manual: job.Args.Manual}
	if job.Attempt < job.MaxAttempts {
		a.RetryAfter = w.wait(job.Attempt)
	}
	// An error wrapping webhooks.ErrRetry runs the job again at NextRetry.
	return w.Webhooks.Deliver(ctx, a)
}

// NextRetry implements river.Worker: the schedule's wait after the attempt
// that just failed, from its end (within milliseconds of what Deliver
// recorded as the delivery's next_attempt_at).
func (w *DeliverWorker) NextRetry(job *river.Job[postgres.DeliverJobArgs]) time.Time {
	return time.Now().Add(w.wait(job.Attempt))
}

// wait is the schedule's wait after failed attempt n.
func (w *DeliverWorker) wait(n int) time.Duration {
	s := w.Webhooks.Schedule()
	if d, ok := s.After(n); ok {
		return d
	}
	return s[len(s)-1]
}

// Timeout implements river.Worker.
func (w *DeliverWorker) Timeout(*river.Job[postgres.DeliverJobArgs]) time.Duration {
	return attemptTimeout
}
