package jobs

import (
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/meterflow/meterflow/platform/outbox"
)

// ClientOptions is what one service's River client has of its own;
// NewClient adds what every service's has in common.
type ClientOptions struct {
	// Log receives River's own logs.
	Log *slog.Logger
	// Queues maps each of the service's own queues to how many of its jobs
	// this process works at once. No queues (and no Emails) makes a client
	// that only inserts jobs, for a process that does not work them.
	Queues map[string]int
	// Workers are the service's workers (AddWorker makes one from a
	// river.Worker); the client registers them when it works any queue.
	Workers []Worker
	// Emails and Events, when set, work the outbox's email and webhook
	// event jobs (platform/outbox) on outbox.Queue, OutboxWorkers at a time.
	Emails        *outbox.EmailWorker
	Events        *outbox.EventWorker
	OutboxWorkers int
	// Metrics, when set, gets the queue metrics (RegisterMetrics) of the
	// client's queues.
	Metrics prometheus.Registerer
	// River holds the rest of River's configuration, what is the
	// service's own: job timeout, rescue, retention, periodic jobs, retry
	// policy. NewClient sets its Logger, Queues and Workers.
	River river.Config
}

// Worker adds one worker to a River client's workers; AddWorker makes one.
type Worker func(*river.Workers) error

// AddWorker returns the Worker that registers w.
func AddWorker[T river.JobArgs](w river.Worker[T]) Worker {
	return func(workers *river.Workers) error {
		if err := river.AddWorkerSafely(workers, w); err != nil {
			var args T
			return fmt.Errorf("jobs: register the %s worker: %w", args.Kind(), err)
		}
		return nil
	}
}

// NewClient returns a River client on pool (the service's own database)
// configured as o says: it inserts jobs (in the caller's transactions)
// and, once started, works the queues o names, the outbox's included.
func NewClient(pool *pgxpool.Pool, o ClientOptions) (*river.Client[pgx.Tx], error) {
	cfg := o.River
	cfg.Logger = o.Log
	cfg.Queues, cfg.Workers = nil, nil
	if len(o.Queues) > 0 || o.Emails != nil || o.Events != nil {
		cfg.Queues = make(map[string]river.QueueConfig, len(o.Queues)+1)
		for q, n := range o.Queues {
			cfg.Queues[q] = river.QueueConfig{MaxWorkers: n}
		}
		cfg.Workers = river.NewWorkers()
		for _, add := range o.Workers {
			if err := add(cfg.Workers); err != nil {
				return nil, err
			}
		}
		if o.Emails != nil {
			if err := outbox.Register(cfg.Workers, cfg.Queues, o.Emails, o.OutboxWorkers); err != nil {
				return nil, err
			}
		}
		if o.Events != nil {
			if err := outbox.RegisterEvents(cfg.Workers, cfg.Queues, o.Events, o.OutboxWorkers); err != nil {
				return nil, err
			}
		}
	}
	if o.Metrics != nil {
		queues := make([]string, 0, len(cfg.Queues))
		for q := range cfg.Queues {
			queues = append(queues, q)
		}
		if err := RegisterMetrics(o.Metrics, pool, queues...); err != nil {
			return nil, fmt.Errorf("jobs: queue metrics: %w", err)
		}
	}
	c, err := river.NewClient(riverpgxv5.New(pool), &cfg)
	if err != nil {
		return nil, fmt.Errorf("jobs: River client: %w", err)
	}
	return c, nil
}
