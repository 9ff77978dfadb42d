package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"

	"github.com/meterflow/meterflow/platform/idempotency"
)

// Config builds a Service.
type Config struct {
	Store    Store
	Contacts Contacts
	Mailer   Mailer
	Metrics  Metrics
	Log      *slog.Logger
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Service queues and delivers emails.
type Service struct {
	store    Store
	contacts Contacts
	mailer   Mailer
	metrics  Metrics
	log      *slog.Logger
	render   *Renderer
	now      func() time.Time
}

// NewService returns a Service; it fails when a template does not parse.
func NewService(c Config) (*Service, error) {
	r, err := NewRenderer()
	if err != nil {
		return nil, err
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return &Service{store: c.Store, contacts: c.Contacts, mailer: c.Mailer, metrics: c.Metrics, log: c.Log, render: r, now: c.Now}, nil
}

// Queue checks r and stores it as an email, with its send queued in the
// same transaction, and returns the email's id. A repeat of the
// producer's key stores nothing and returns the first email's id with
// created=false; the same key with another request is
// idempotency.ErrKeyReused. A bad request is a *validation.Error.
func (s *Service) Queue(ctx context.Context, r Request) (id uuid.UUID, created bool, err error) {
	e, err := s.NewEmail(ctx, r)
	if err != nil {
		return uuid.Nil, false, err
	}
	stored, created, err := s.store.Create(ctx, e)
	if err != nil {
		return uuid.Nil, false, fmt.Errorf("queue %s email: %w", e.Template, err)
	}
	if !created && !bytes.Equal(stored.RequestHash, e.RequestHash) {
		return uuid.Nil, false, idempotency.ErrKeyReused
	}
	if created {
		s.log.InfoContext(ctx, "email queued", "email_id", stored.ID, "template", stored.Template, "producer", stored.Producer)
	}
	return stored.ID, created, nil
}

// NewEmail checks r and returns the email to store (queued, carrying the
// trace of ctx), without storing it: Queue stores it, and notify's own
// webhook deliverer stores it in the transaction that disables an endpoint.
// A bad request is a *validation.Error.
func (s *Service) NewEmail(ctx context.Context, r Request) (Email, error) {
	if r.Producer == "" {
		return Email{}, errors.New("queue email: no producer (the caller's service)")
	}
	tmpl, data, err := check(r)
	if err != nil {
		return Email{}, err
	}
	e := Email{
		ID: uuid.Must(uuid.NewV7()), Producer: r.Producer, IdempotencyKey: r.IdempotencyKey,
		RequestHash: requestHash(tmpl.Name, r.ToUserID, r.ToAddress, data),
		Template:    tmpl.Name, ToUserID: r.ToUserID, ToAddress: r.ToAddress, Data: data,
		Status: StatusQueued, CreatedAt: s.now(), Trace: map[string]string{},
	}
	otel.GetTextMapPropagator().Inject(ctx, propagation.MapCarrier(e.Trace))
	return e, nil
}
