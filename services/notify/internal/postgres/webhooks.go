package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"

	"github.com/meterflow/meterflow/platform/database"
	"github.com/meterflow/meterflow/platform/paging"
	"github.com/meterflow/meterflow/services/notify/internal/postgres/db"
	"github.com/meterflow/meterflow/services/notify/internal/webhooks"
)

// WebhookQueue is the River queue webhook attempts run from.
const WebhookQueue = "webhook"

// DeliverJobArgs is the River job of a delivery's attempts. It carries
// the delivery's id and the trace of the call that queued it, never the
// body or a secret.
type DeliverJobArgs struct {
	DeliveryID uuid.UUID `json:"delivery_id"`
	// Manual: a retry the user asked for (one attempt, whatever the
	// endpoint's state).
	Manual bool              `json:"manual,omitempty"`
	Trace  map[string]string `json:"trace,omitempty"`
}

// Kind implements river.JobArgs.
func (DeliverJobArgs) Kind() string { return "notify_webhook_delivery" }

// InsertOpts implements river.JobArgsWithInsertOpts.
func (DeliverJobArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: WebhookQueue, MaxAttempts: len(webhooks.DefaultSchedule) + 1}
}

// WebhookStore implements webhooks.Store.
type WebhookStore struct {
	pool     *pgxpool.Pool
	q        *db.Queries
	queue    *river.Client[pgx.Tx]
	emails   *Store
	attempts int
}

// NewWebhookStore returns the webhook store on pool: jobs inserted with
// queue, each delivery given attempts attempts, emails stored by emails.
func NewWebhookStore(pool *pgxpool.Pool, queue *river.Client[pgx.Tx], emails *Store, attempts int) *WebhookStore {
	return &WebhookStore{pool: pool, q: db.New(), queue: queue, emails: emails, attempts: attempts}
}

var _ webhooks.Store = (*WebhookStore)(nil)

// CreateEndpoint implements webhooks.Store.
func (s *WebhookStore) CreateEndpoint(ctx context.Context, e webhooks.Endpoint, max int) error {
	return database.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		if err := s.q.LockUserEndpoints(ctx, tx, e.UserID.String()); err != nil {
			return err
		}
		n, err := s.q.CountEndpoints(ctx, tx, e.UserID)
		if err != nil {
			return err
		}
		if int(n) >= max {
			return webhooks.ErrLimitReached
		}
		return s.q.InsertEndpoint(ctx, tx, db.InsertEndpointParams{ID: e.ID, UserID: e.UserID, Url: e.URL, Events: e.Events,
			Description: e.Description, SecretSealed: e.SecretSealed, CreatedAt: e.CreatedAt})
	})
}

// Endpoint implements webhooks.Store.
func (s *WebhookStore) Endpoint(ctx context.Context, userID, id uuid.UUID) (webhooks.Endpoint, error) {
	row, err := s.q.GetEndpoint(ctx, s.pool, db.GetEndpointParams{ID: id, UserID: userID})
	if err != nil {
		return webhooks.Endpoint{}, notFound(err)
	}
	return toEndpoint(row), nil
}

// ListEndpoints implements webhooks.Store.
func (s *WebhookStore) ListEndpoints(ctx context.Context, userID uuid.UUID, limit int, after paging.Cursor) ([]webhooks.Endpoint, error) {
	p := db.ListEndpointsParams{UserID: userID, MaxRows: int32(limit)}
	p.AfterCreated, p.AfterID = cursorParams(after)
	rows, err := s.q.ListEndpoints(ctx, s.pool, p)
	if err != nil {
		return nil, err
	}
	out := make([]webhooks.Endpoint, len(rows))
	for i, r := range rows {
		out[i] = toEndpoint(r)
	}
	return out, nil
}

// UpdateEndpoint implements webhooks.Store.
func (s *WebhookStore) UpdateEndpoint(ctx context.Context, userID, id uuid.UUID, change func(*webhooks.Endpoint) error) (webhooks.Endpoint, error) {
	var ep webhooks.Endpoint
	err := database.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		row, err := s.q.LockEndpoint(ctx, tx, db.LockEndpointParams{ID: id, UserID: pgtype.UUID{Bytes: userID, Valid: userID != uuid.Nil}})
		if err != nil {
			return notFound(err)
		}
		ep = toEndpoint(row)
		if err := change(&ep); err != nil {
			return err
		}
		return s.writeEndpoint(ctx, tx, ep)
	})
	return ep, err
}

func (s *WebhookStore) writeEndpoint(ctx context.Context, tx pgx.Tx, ep webhooks.Endpoint) error {
	return s.q.UpdateEndpoint(ctx, tx, db.UpdateEndpointParams{
		ID: ep.ID, Url: ep.URL, Events: ep.Events, Description: ep.Description, Enabled: ep.Enabled,
		DisabledReason: pgtype.Text{String: ep.DisabledReason, Valid: !ep.Enabled},
		SecretSealed:   ep.SecretSealed, PreviousSecretSealed: ep.PreviousSecretSealed, PreviousSecretExpiresAt: ep.PreviousExpiresAt,
		FailingSince: ep.FailingSince, UpdatedAt: ep.UpdatedAt,
	})
}

// EndpointsAfter implements webhooks.ResealStore.
func (s *WebhookStore) EndpointsAfter(ctx context.Context, after uuid.UUID, limit int) ([]webhooks.Endpoint, error) {
	rows, err := s.q.EndpointsAfter(ctx, s.pool, db.EndpointsAfterParams{After: after, MaxRows: int32(limit)})
	if err != nil {
		return nil, err
	}
	out := make([]webhooks.Endpoint, len(rows))
	for i, r := range rows {
		out[i] = toEndpoint(r)
	}
	return out, nil
}

// DeleteEndpoint implements webhooks.Store.
func (s *WebhookStore) DeleteEndpoint(ctx context.Context, userID, id uuid.UUID) error {
	n, err := s.q.DeleteEndpoint(ctx, s.pool, db.DeleteEndpointParams{ID: id, UserID: userID})
	if err != nil {
		return err
	}
	if n == 0 {
		return webhooks.ErrNotFound
	}
	return nil
}

// PublishEvent implements webhooks.Store. An event nobody is subscribed
// to (most users have no endpoints) is stored in one statement, without
// a transaction (InsertUnsubscribedEvent); otherwise, and for a repeated
// key, one transaction reads the subscribed endpoints, stores the event
// and its deliveries, or finds the first event. Both read the endpoints in
// the statement's or the transaction's snapshot, so an endpoint created
// meanwhile gets the event or not as before.
func (s *WebhookStore) PublishEvent(ctx context.Context, ev webhooks.Event, newDelivery func(webhooks.Endpoint) webhooks.Delivery) (webhooks.Event, bool, error) {
	stored, created := ev, true
	p := eventParams(ev)
	id, err := s.q.InsertUnsubscribedEvent(ctx, s.pool, db.InsertUnsubscribedEventParams{ID: p.ID, Producer: p.Producer,
		IdempotencyKey: p.IdempotencyKey, RequestHash: p.RequestHash, UserID: p.UserID, Type: p.Type, OccurredAt: p.OccurredAt, CreatedAt: p.CreatedAt})
	switch {
	case err == nil:
		stored.ID = id
		return stored, true, nil
	case !errors.Is(err, pgx.ErrNoRows):
		return webhooks.Event{}, false, err
	}
	trace := traceOf(ctx)
	err = database.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		eps, err := s.q.SubscribedEndpoints(ctx, tx, db.SubscribedEndpointsParams{UserID: ev.UserID, EventType: ev.Type})
		if err != nil {
			return err
		}
		params := eventParams(ev)
		if len(eps) == 0 {
			// Nobody will be sent it: keep the key (and the request's
			// hash) for repeats, not the body.
			params.Body = []byte{}
		}
		row, err := s.q.InsertEvent(ctx, tx, params)
		if errors.Is(err, pgx.ErrNoRows) {
			created = false
			first, err := s.q.GetEventByKey(ctx, tx, db.GetEventByKeyParams{Producer: ev.Producer, IdempotencyKey: ev.IdempotencyKey})
			stored = webhooks.Event{ID: first.ID, Producer: first.Producer, IdempotencyKey: first.IdempotencyKey,
				RequestHash: first.RequestHash, UserID: first.UserID, Type: first.Type, OccurredAt: first.OccurredAt, CreatedAt: first.CreatedAt}
			return err
		}
		if err != nil {
			return err
		}
		stored.ID = row.ID
		for _, e := range eps {
			if err := s.insertDelivery(ctx, tx, newDelivery(toEndpoint(e)), trace); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return webhooks.Event{}, false, err
	}
	return stored, created, nil
}

// CreateTestDelivery implements webhooks.Store.
func (s *WebhookStore) CreateTestDelivery(ctx context.Context, ev webhooks.Event, d webhooks.Delivery) error {
	return database.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := s.q.InsertEvent(ctx, tx, eventParams(ev)); err != nil {
			return err
		}
		return s.insertDelivery(ctx, tx, d, traceOf(ctx))
	})
}

// insertDelivery writes d and its job (a test ping runs the schedule as
// any event does).
func (s *WebhookStore) insertDelivery(ctx context.Context, tx pgx.Tx, d webhooks.Delivery, trace map[string]string) error {
	err := s.q.InsertDelivery(ctx, tx, db.InsertDeliveryParams{ID: d.ID, EndpointID: d.EndpointID, EventID: d.EventID,
		UserID: d.UserID, EventType: d.EventType, NextAttemptAt: d.NextAttemptAt, CreatedAt: d.CreatedAt})
	if err != nil {
		return err
	}
	_, err = s.queue.InsertTx(ctx, tx, DeliverJobArgs{DeliveryID: d.ID, Trace: trace}, &river.InsertOpts{MaxAttempts: s.attempts})
	return err
}

// RetryDelivery implements webhooks.Store.
func (s *WebhookStore) RetryDelivery(ctx context.Context, userID, id uuid.UUID, now time.Time) (webhooks.Delivery, error) {
	var out webhooks.Delivery
	err := database.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		row, err := s.q.LockDelivery(ctx, tx, db.LockDeliveryParams{ID: id, UserID: userID})
		if err != nil {
			return notFound(err)
		}
		if row.Status == string(webhooks.StatusPending) {
			return webhooks.ErrAlreadyPending
		}
		if row, err = s.q.ReopenDelivery(ctx, tx, db.ReopenDeliveryParams{ID: id, Now: &now}); err != nil {
			return err
		}
		out = toDelivery(row)
		_, err = s.queue.InsertTx(ctx, tx, DeliverJobArgs{DeliveryID: id, Manual: true, Trace: traceOf(ctx)}, &river.InsertOpts{MaxAttempts: 1})
		return err
	})
	return out, err
}

// ListDeliveries implements webhooks.Store.
func (s *WebhookStore) ListDeliveries(ctx context.Context, f webhooks.DeliveryFilter, limit int, after paging.Cursor) ([]webhooks.Delivery, error) {
	p := db.ListDeliveriesParams{UserID: f.UserID, MaxRows: int32(limit),
		EndpointID: pgtype.UUID{Bytes: f.EndpointID, Valid: f.EndpointID != uuid.Nil},
		Status:     pgtype.Text{String: string(f.Status), Valid: f.Status != ""}}
	p.AfterCreated, p.AfterID = cursorParams(after)
	rows, err := s.q.ListDeliveries(ctx, s.pool, p)
	if err != nil {
		return nil, err
	}
	out := make([]webhooks.Delivery, len(rows))
	for i, r := range rows {
		out[i] = toDelivery(r)
	}
	return out, nil
}

// Attempt implements webhooks.Store.
func (s *WebhookStore) Attempt(ctx context.Context, deliveryID uuid.UUID) (webhooks.Delivery, webhooks.Endpoint, []byte, error) {
	row, err := s.q.AttemptContext(ctx, s.pool, deliveryID)
	if err != nil {
		return webhooks.Delivery{}, webhooks.Endpoint{}, nil, notFound(err)
	}
	return toDelivery(row.WebhookDelivery), toEndpoint(row.WebhookEndpoint), row.Body, nil
}

// StartAttempt implements webhooks.Store.
func (s *WebhookStore) StartAttempt(ctx context.Context, deliveryID uuid.UUID, at time.Time) (int, error) {
	n, err := s.q.StartAttempt(ctx, s.pool, db.StartAttemptParams{ID: deliveryID, At: &at})
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, webhooks.ErrNotPending
	}
	return int(n), err
}

// RecordAttempt implements webhooks.Store.
func (s *WebhookStore) RecordAttempt(ctx context.Context, r webhooks.AttemptRecord, decide func(webhooks.Endpoint) *webhooks.Disable) (bool, error) {
	disabled := false
	err := database.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		disabled = false
		if r.Succeeded {
			if err := s.q.ClearFailing(ctx, tx, r.EndpointID); err != nil {
				return err
			}
			return s.finishAttempt(ctx, tx, r, false)
		}
		row, err := s.q.LockEndpoint(ctx, tx, db.LockEndpointParams{ID: r.EndpointID})
		if err != nil {
			return notFound(err)
		}
		ep := toEndpoint(row)
		if ep.FailingSince == nil {
			at := r.StartedAt
			ep.FailingSince = &at
		}
		if d := decide(ep); d != nil {
			disabled = true
			ep.Enabled, ep.DisabledReason = false, d.Reason
			if d.Email.ID != uuid.Nil {
				if err := s.emails.CreateTx(ctx, tx, d.Email); err != nil {
					return err
				}
			}
		}
		ep.UpdatedAt = time.Now()
		if err := s.writeEndpoint(ctx, tx, ep); err != nil {
			return err
		}
		return s.finishAttempt(ctx, tx, r, disabled)
	})
	return disabled, err
}

func (s *WebhookStore) finishAttempt(ctx context.Context, tx pgx.Tx, r webhooks.AttemptRecord, disabled bool) error {
	err := s.q.InsertAttempt(ctx, tx, db.InsertAttemptParams{DeliveryID: r.DeliveryID, N: int32(r.N), StartedAt: r.StartedAt,
		DurationMs: int32(min(r.Duration.Milliseconds(), 1<<30)), ResponseStatus: int4(r.ResponseStatus),
		Error: pgtype.Text{String: r.Error, Valid: r.Error != ""}})
	if err != nil {
		return err
	}
	p := db.FinishAttemptParams{ID: r.DeliveryID, LastResponseStatus: int4(r.ResponseStatus),
		LastError: pgtype.Text{String: r.Error, Valid: r.Error != ""}}
	switch {
	case r.Succeeded:
		p.Status = string(webhooks.StatusSucceeded)
	case r.RetryAt.IsZero() || disabled:
		p.Status = string(webhooks.StatusFailed)
	default:
		p.Status, p.NextAttemptAt = string(webhooks.StatusPending), &r.RetryAt
	}
	_, err = s.q.FinishAttempt(ctx, tx, p)
	return err
}

// FailDelivery implements webhooks.Store.
func (s *WebhookStore) FailDelivery(ctx context.Context, deliveryID uuid.UUID, reason string) error {
	n, err := s.q.FailDelivery(ctx, s.pool, db.FailDeliveryParams{ID: deliveryID, LastError: pgtype.Text{String: reason, Valid: true}})
	if err != nil {
		return err
	}
	if n == 0 {
		return webhooks.ErrNotPending
	}
	return nil
}

// PruneEvents deletes up to limit events created before cutoff whose
// deliveries are all final, with those deliveries and their attempts.
func (s *WebhookStore) PruneEvents(ctx context.Context, cutoff time.Time, limit int) (int64, error) {
	return s.q.PruneWebhookEvents(ctx, s.pool, db.PruneWebhookEventsParams{Cutoff: cutoff, MaxRows: int32(limit)})
}

// OldestDue is how long the oldest pending delivery whose attempt is due
// has waited for a worker (0 when none).
func (s *WebhookStore) OldestDue(ctx context.Context) (time.Duration, error) {
	secs, err := s.q.WebhookDueStats(ctx, s.pool)
	return seconds(secs), err
}

func eventParams(ev webhooks.Event) db.InsertEventParams {
	return db.InsertEventParams{ID: ev.ID, Producer: ev.Producer, IdempotencyKey: ev.IdempotencyKey, RequestHash: ev.RequestHash,
		UserID: ev.UserID, Type: ev.Type, Body: ev.Body, OccurredAt: ev.OccurredAt, CreatedAt: ev.CreatedAt}
}

func toEndpoint(r db.WebhookEndpoint) webhooks.Endpoint {
	return webhooks.Endpoint{ID: r.ID, UserID: r.UserID, URL: r.Url, Events: r.Events, Description: r.Description,
		Enabled: r.Enabled, DisabledReason: r.DisabledReason.String, SecretSealed: r.SecretSealed,
		PreviousSecretSealed: r.PreviousSecretSealed, PreviousExpiresAt: r.PreviousSecretExpiresAt,
		FailingSince: r.FailingSince, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
}

func toDelivery(r db.WebhookDelivery) webhooks.Delivery {
	return webhooks.Delivery{ID: r.ID, EndpointID: r.EndpointID, EventID: r.EventID, UserID: r.UserID, EventType: r.EventType,
		Status: webhooks.Status(r.Status), Attempts: int(r.Attempts), NextAttemptAt: r.NextAttemptAt, LastAttemptAt: r.LastAttemptAt,
		LastResponseStatus: int(r.LastResponseStatus.Int32), LastError: r.LastError.String, CreatedAt: r.CreatedAt, FinishedAt: r.FinishedAt}
}

func cursorParams(c paging.Cursor) (*time.Time, pgtype.UUID) {
	if c.IsZero() {
		return nil, pgtype.UUID{}
	}
	t := c.CreatedAt
	return &t, pgtype.UUID{Bytes: c.ID, Valid: true}
}

func int4(n int) pgtype.Int4 { return pgtype.Int4{Int32: int32(n), Valid: n != 0} }

func notFound(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return webhooks.ErrNotFound
	}
	return fmt.Errorf("webhook store: %w", err)
}

// traceOf is the trace context of ctx, for a job to continue.
func traceOf(ctx context.Context) map[string]string {
	carrier := map[string]string{}
	otel.GetTextMapPropagator().Inject(ctx, propagation.MapCarrier(carrier))
	return carrier
}

// abandonedDeliveriesQuery reads River's job table, which sqlc does not
// know: pending deliveries without a job that will still run. A job
// running in a process that died counts as live until River rescues it.
const abandonedDeliveriesQuery = `SELECT d.id, d.attempts FROM webhook_deliveries AS d
WHERE d.status = 'pending' AND NOT EXISTS (
    SELECT 1 FROM river_job AS j
    WHERE j.kind = $1 AND j.args->>'delivery_id' = d.id::text
      AND j.state IN ('available', 'pending', 'retryable', 'running', 'scheduled'))
ORDER BY d.created_at
LIMIT $2`

// AbandonedDeliveries implements webhooks.AbandonedStore.
func (s *WebhookStore) AbandonedDeliveries(ctx context.Context, limit int) ([]webhooks.Abandoned, error) {
	rows, err := s.pool.Query(ctx, abandonedDeliveriesQuery, DeliverJobArgs{}.Kind(), limit)
	if err != nil {
		return nil, fmt.Errorf("abandoned deliveries: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (webhooks.Abandoned, error) {
		var a webhooks.Abandoned
		var n int32
		err := r.Scan(&a.ID, &n)
		a.Attempts = int(n)
		return a, err
	})
	if err != nil {
		return nil, fmt.Errorf("abandoned deliveries: %w", err)
	}
	return out, nil
}
