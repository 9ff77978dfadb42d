package webhooks

import (
	"errors"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/meterflow/meterflow/platform/stdwebhooks"
)

// Config builds a Service.
type Config struct {
	Store   Store
	Sealer  Sealer
	Sender  Sender
	Emails  Emails
	Metrics Metrics
	Log     *slog.Logger
	URLs    URLPolicy
	// Schedule is the waits between attempts; DefaultSchedule when nil.
	Schedule Schedule
	// Now is the clock of the rules (rotation overlap, the disabling
	// rule); time.Now when nil. Tests move it days ahead.
	Now func() time.Time
}

// Service manages endpoints and delivers events.
type Service struct {
	store    Store
	sealer   Sealer
	sender   Sender
	emails   Emails
	metrics  Metrics
	log      *slog.Logger
	urls     URLPolicy
	schedule Schedule
	now      func() time.Time
}

// NewService returns a Service.
func NewService(c Config) (*Service, error) {
	if c.Store == nil || c.Sealer == nil || c.Sender == nil || c.Emails == nil || c.Metrics == nil {
		return nil, errors.New("webhooks: Store, Sealer, Sender, Emails and Metrics are required")
	}
	if c.Schedule == nil {
		c.Schedule = DefaultSchedule
	}
	if err := c.Schedule.validate(); err != nil {
		return nil, err
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return &Service{store: c.Store, sealer: c.Sealer, sender: c.Sender, emails: c.Emails, metrics: c.Metrics,
		log: c.Log, urls: c.URLs, schedule: c.Schedule, now: c.Now}, nil
}

// Schedule is the service's retry schedule (the queue's worker asks it
// when a failed attempt's next one is due).
func (s *Service) Schedule() Schedule { return s.schedule }

// secretContext binds a sealed secret to its endpoint.
func secretContext(id uuid.UUID) string { return "webhook_endpoint:" + id.String() }

// newSecret returns a fresh secret and its sealed form for endpoint id.
func (s *Service) newSecret(id uuid.UUID) (string, []byte, error) {
	secret, err := stdwebhooks.NewSecret()
	if err != nil {
		return "", nil, err
	}
	sealed, err := s.sealer.Seal([]byte(secret), secretContext(id))
	if err != nil {
		return "", nil, err
	}
	return secret, sealed, nil
}

// signingKeys opens the endpoint's secrets that sign now: the current one
// and, during a rotation's overlap, the previous one.
func (s *Service) signingKeys(ep Endpoint) ([]stdwebhooks.Key, error) {
	sealed := [][]byte{ep.SecretSealed}
	if ep.PreviousSecretSealed != nil && ep.PreviousExpiresAt != nil && s.now().Before(*ep.PreviousExpiresAt) {
		sealed = append(sealed, ep.PreviousSecretSealed)
	}
	keys := make([]stdwebhooks.Key, 0, len(sealed))
	for _, b := range sealed {
		text, err := s.sealer.Open(b, secretContext(ep.ID))
		if err != nil {
			return nil, err
		}
		k, err := stdwebhooks.ParseSecret(string(text))
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, nil
}
