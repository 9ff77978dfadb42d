// Package queue works off the send jobs (River, in notify's own
// database) and prunes old emails on a River periodic job.
package queue

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"

	"github.com/meterflow/meterflow/platform/jobs"
	"github.com/meterflow/meterflow/services/notify/internal/notify"
	"github.com/meterflow/meterflow/services/notify/internal/postgres"
	"github.com/meterflow/meterflow/services/notify/internal/webhooks"
)

// Worker sends one stored email per job.
type Worker struct {
	river.WorkerDefaults[postgres.SendJobArgs]
	Emails  *notify.Service
	timeout time.Duration
}

// Work implements river.Worker: it continues the trace of the SendEmail
// call that queued the email, so one trace runs from the producer's
// request to the SMTP send. A permanent failure cancels the job.
func (w *Worker) Work(ctx context.Context, job *river.Job[postgres.SendJobArgs]) error {
	ctx = otel.GetTextMapPropagator().Extract(ctx, propagation.MapCarrier(job.Args.Trace))
	err := w.Emails.Deliver(ctx, notify.Attempt{EmailID: job.Args.EmailID, N: job.Attempt, Last: job.Attempt >= job.MaxAttempts})
	if errors.Is(err, notify.ErrPermanent) {
		return river.JobCancel(err)
	}
	return err
}

// Timeout implements river.Worker.
func (w *Worker) Timeout(*river.Job[postgres.SendJobArgs]) time.Duration { return w.timeout }

// PruneArgs is the periodic job that deletes old final emails.
type PruneArgs struct{}

// Kind implements river.JobArgs.
func (PruneArgs) Kind() string { return "notify_prune_emails" }

// InsertOpts implements river.JobArgsWithInsertOpts.
func (PruneArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: postgres.Queue, MaxAttempts: 3}
}

// PruneWorker runs PruneArgs jobs: old final emails, and old webhook
// events whose deliveries are all final.
type PruneWorker struct {
	river.WorkerDefaults[PruneArgs]
	Emails    *notify.Service
	Events    EventPruner
	Retention time.Duration
	Log       *slog.Logger
}

// EventPruner deletes old webhook events (postgres.WebhookStore).
type EventPruner interface {
	PruneEvents(ctx context.Context, cutoff time.Time, limit int) (int64, error)
}

// pruneBatch bounds one delete of webhook events.
const pruneBatch = 1000

// Work implements river.Worker.
func (w *PruneWorker) Work(ctx context.Context, _ *river.Job[PruneArgs]) error {
	n, err := w.Emails.Prune(ctx, w.Retention)
	if n > 0 {
		w.Log.InfoContext(ctx, "pruned old emails", "deleted", n, "retention", w.Retention.String())
	}
	if err != nil || w.Events == nil {
		return err
	}
	cutoff := time.Now().Add(-w.Retention)
	for {
		n, err := w.Events.PruneEvents(ctx, cutoff, pruneBatch)
		if n > 0 {
			w.Log.InfoContext(ctx, "pruned old webhook events", "deleted", n, "retention", w.Retention.String())
		}
		if err != nil || n < pruneBatch {
			return err
		}
	}
}

// AbandonedInterval is how often the emails no send job will work any
// more are marked failed (notify.Service.FailAbandoned).
const AbandonedInterval = 5 * time.Minute

// AbandonedArgs is the periodic job that fails abandoned emails.
type AbandonedArgs struct{}

// Kind implements river.JobArgs.
func (AbandonedArgs) Kind() string { return "notify_fail_abandoned_emails" }

// InsertOpts implements river.JobArgsWithInsertOpts.
func (AbandonedArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: postgres.Queue, MaxAttempts: 3}
}

// AbandonedWorker runs AbandonedArgs jobs: emails, and webhook
// deliveries when Webhooks is set.
type AbandonedWorker struct {
	river.WorkerDefaults[AbandonedArgs]
	Emails     *notify.Service
	Webhooks   *webhooks.Service
	Deliveries webhooks.AbandonedStore
	Log        *slog.Logger
}

// Work implements river.Worker.
func (w *AbandonedWorker) Work(ctx context.Context, _ *river.Job[AbandonedArgs]) error {
	n, err := w.Emails.FailAbandoned(ctx)
	if n > 0 {
		w.Log.WarnContext(ctx, "failed emails whose send job ended without a result", "failed", n)
	}
	if err != nil || w.Webhooks == nil {
		return err
	}
	n, err = w.Webhooks.FailAbandoned(ctx, w.Deliveries)
	if n > 0 {
		w.Log.WarnContext(ctx, "failed webhook deliveries whose job ended without a result", "failed", n)
	}
	return err
}

// Options configure the worker client.
type Options struct {
	// Workers is how many emails this process sends at once.
	Workers int
	// JobTimeout bounds one attempt (lookup, render, SMTP send).
	JobTimeout time.Duration
	// RescueAfter is when River takes back a job whose process died
	// mid-attempt; it must exceed JobTimeout, or a slow send could be
	// started twice.
	RescueAfter time.Duration
	// Retention is how long final emails are kept.
	Retention time.Duration
	// RetryPolicy, when set, replaces River's backoff (tests).
	RetryPolicy river.ClientRetryPolicy
	// FetchPollInterval, when set, replaces River's (tests).
	FetchPollInterval time.Duration
	// Metrics, when set, gets the queue metrics (platform/jobs).
	Metrics prometheus.Registerer
	Log     *slog.Logger
	// Webhooks delivers webhook attempts on the webhook queue,
	// WebhookWorkers at a time; Events prunes old webhook events and
	// Deliveries finds the abandoned ones.
	Webhooks       *webhooks.Service
	WebhookWorkers int
	Events         EventPruner
	Deliveries     webhooks.AbandonedStore
}

// NewInsertOnly returns a River client that can only insert jobs.
func NewInsertOnly(pool *pgxpool.Pool, log *slog.Logger) (*river.Client[pgx.Tx], error) {
	return jobs.NewClient(pool, jobs.ClientOptions{Log: log})
}

// NewWorkerClient returns a River client that sends emails, fails the
// abandoned ones every AbandonedInterval and prunes old ones hourly.
func NewWorkerClient(pool *pgxpool.Pool, emails *notify.Service, o Options) (*river.Client[pgx.Tx], error) {
	prune := river.NewPeriodicJob(river.PeriodicInterval(time.Hour),
		func() (river.JobArgs, *river.InsertOpts) { return PruneArgs{}, nil },
		&river.PeriodicJobOpts{RunOnStart: true})
	abandoned := river.NewPeriodicJob(river.PeriodicInterval(AbandonedInterval),
		func() (river.JobArgs, *river.InsertOpts) { return AbandonedArgs{}, nil },
		&river.PeriodicJobOpts{RunOnStart: true})
	opts := jobs.ClientOptions{
		Log:    o.Log,
		Queues: map[string]int{postgres.Queue: o.Workers},
		Workers: []jobs.Worker{
			jobs.AddWorker(&Worker{Emails: emails, timeout: o.JobTimeout}),
			jobs.AddWorker(&PruneWorker{Emails: emails, Events: o.Events, Retention: o.Retention, Log: o.Log}),
			jobs.AddWorker(&AbandonedWorker{Emails: emails, Webhooks: o.Webhooks, Deliveries: o.Deliveries, Log: o.Log}),
		},
		Metrics: o.Metrics,
		River: river.Config{
			PeriodicJobs:         []*river.PeriodicJob{prune, abandoned},
			JobTimeout:           o.JobTimeout,
			RescueStuckJobsAfter: o.RescueAfter,
			RetryPolicy:          o.RetryPolicy,
			FetchPollInterval:    o.FetchPollInterval,
		},
	}
	if o.Webhooks != nil {
		opts.Workers = append(opts.Workers, jobs.AddWorker(&DeliverWorker{Webhooks: o.Webhooks}))
		opts.Queues[postgres.WebhookQueue] = o.WebhookWorkers
	}
	return jobs.NewClient(pool, opts)
}
