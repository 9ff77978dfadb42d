package webhooks

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/meterflow/meterflow/platform/paging"
)

// NewEndpoint is what a user sends to create an endpoint.
type NewEndpoint struct {
	URL         string
	Events      []string
	Description string
}

// CreateEndpoint checks n and stores it as the user's endpoint with a new
// secret, which it returns: the only time the secret is shown.
func (s *Service) CreateEndpoint(ctx context.Context, userID uuid.UUID, n NewEndpoint) (Endpoint, string, error) {
	events, err := checkEvents(n.Events)
	if err != nil {
		return Endpoint{}, "", err
	}
	if err := checkDescription(n.Description); err != nil {
		return Endpoint{}, "", err
	}
	if err := s.urls.checkURL(ctx, n.URL); err != nil {
		return Endpoint{}, "", err
	}
	now := s.now()
	ep := Endpoint{ID: uuid.Must(uuid.NewV7()), UserID: userID, URL: n.URL, Events: events, Description: n.Description,
		Enabled: true, CreatedAt: now, UpdatedAt: now}
	secret, sealed, err := s.newSecret(ep.ID)
	if err != nil {
		return Endpoint{}, "", err
	}
	ep.SecretSealed = sealed
	if err := s.store.CreateEndpoint(ctx, ep, MaxEndpoints); err != nil {
		return Endpoint{}, "", err
	}
	s.log.InfoContext(ctx, "webhook endpoint created", "endpoint_id", ep.ID, "user_id", userID)
	return ep, secret, nil
}

// ListEndpoints lists the user's endpoints, newest first.
func (s *Service) ListEndpoints(ctx context.Context, userID uuid.UUID, limit int, cursor string) ([]Endpoint, string, error) {
	limit, after, err := pageParams(limit, cursor)
	if err != nil {
		return nil, "", err
	}
	rows, err := s.store.ListEndpoints(ctx, userID, limit+1, after)
	if err != nil {
		return nil, "", err
	}
	rows, next := paging.Trim(rows, limit, func(e Endpoint) paging.Cursor { return paging.Cursor{CreatedAt: e.CreatedAt, ID: e.ID} })
	return rows, next, nil
}

// EndpointChange is a partial update: nil fields stay as they are.
type EndpointChange struct {
	URL         *string
	Events      []string
	EventsSet   bool
	Description *string
	Enabled     *bool
}

// UpdateEndpoint applies c to the user's endpoint. Enabling it clears the
// disabled reason and the failure streak, so the 5-day rule starts over.
func (s *Service) UpdateEndpoint(ctx context.Context, userID, id uuid.UUID, c EndpointChange) (Endpoint, error) {
	var events []string
	if c.EventsSet {
		var err error
		if events, err = checkEvents(c.Events); err != nil {
			return Endpoint{}, err
		}
	}
	if c.Description != nil {
		if err := checkDescription(*c.Description); err != nil {
			return Endpoint{}, err
		}
	}
	if c.URL != nil {
		if err := s.urls.checkURL(ctx, *c.URL); err != nil {
			return Endpoint{}, err
		}
	}
	now := s.now()
	return s.store.UpdateEndpoint(ctx, userID, id, func(ep *Endpoint) error {
		if c.URL != nil {
			ep.URL = *c.URL
		}
		if c.EventsSet {
			ep.Events = events
		}
		if c.Description != nil {
			ep.Description = *c.Description
		}
		if c.Enabled != nil && *c.Enabled != ep.Enabled {
			ep.Enabled = *c.Enabled
			ep.DisabledReason = ""
			ep.FailingSince = nil
			if !ep.Enabled {
				ep.DisabledReason = "disabled by the user"
			}
		}
		ep.UpdatedAt = now
		return nil
	})
}

// DeleteEndpoint deletes the user's endpoint, its deliveries and attempts;
// attempts already queued find nothing and do nothing.
func (s *Service) DeleteEndpoint(ctx context.Context, userID, id uuid.UUID) error {
	if err := s.store.DeleteEndpoint(ctx, userID, id); err != nil {
		return err
	}
	s.log.InfoContext(ctx, "webhook endpoint deleted", "endpoint_id", id, "user_id", userID)
	return nil
}

// RotateSecret gives the user's endpoint a new secret and returns it with
// the time until which the current one still signs (RotationOverlap). A
// second rotation within the overlap drops the oldest secret at once: two
// sign at most.
func (s *Service) RotateSecret(ctx context.Context, userID, id uuid.UUID) (string, time.Time, error) {
	secret, sealed, err := s.newSecret(id)
	if err != nil {
		return "", time.Time{}, err
	}
	now := s.now()
	until := now.Add(RotationOverlap)
	_, err = s.store.UpdateEndpoint(ctx, userID, id, func(ep *Endpoint) error {
		ep.PreviousSecretSealed, ep.PreviousExpiresAt = ep.SecretSealed, &until
		ep.SecretSealed = sealed
		ep.UpdatedAt = now
		return nil
	})
	if err != nil {
		return "", time.Time{}, err
	}
	s.log.InfoContext(ctx, "webhook secret rotated", "endpoint_id", id, "user_id", userID)
	return secret, until, nil
}

// SendTest queues a ping event to the user's endpoint (enabled or not:
// the user is checking it) and returns its delivery.
func (s *Service) SendTest(ctx context.Context, userID, id uuid.UUID) (Delivery, error) {
	ep, err := s.store.Endpoint(ctx, userID, id)
	if err != nil {
		return Delivery{}, err
	}
	now := s.now()
	data := fmt.Sprintf(`{"endpoint_id":%q,"message":"A test event from Meterflow."}`, ep.ID)
	evID := uuid.Must(uuid.NewV7())
	body, err := eventBody(EventPing, now, []byte(data))
	if err != nil {
		return Delivery{}, err
	}
	ev := Event{ID: evID, Producer: "notify", IdempotencyKey: "ping:" + evID.String(), RequestHash: []byte{},
		UserID: userID, Type: EventPing, Body: body, OccurredAt: now, CreatedAt: now}
	d := newDelivery(ev, ep, now)
	if err := s.store.CreateTestDelivery(ctx, ev, d); err != nil {
		return Delivery{}, err
	}
	return d, nil
}

// ListDeliveries lists deliveries under f, newest first.
func (s *Service) ListDeliveries(ctx context.Context, f DeliveryFilter, limit int, cursor string) ([]Delivery, string, error) {
	limit, after, err := pageParams(limit, cursor)
	if err != nil {
		return nil, "", err
	}
	rows, err := s.store.ListDeliveries(ctx, f, limit+1, after)
	if err != nil {
		return nil, "", err
	}
	rows, next := paging.Trim(rows, limit, func(d Delivery) paging.Cursor { return paging.Cursor{CreatedAt: d.CreatedAt, ID: d.ID} })
	return rows, next, nil
}

// RetryDelivery queues one more attempt at the user's delivery, now,
// whatever its endpoint's state; ErrAlreadyPending when it is pending.
func (s *Service) RetryDelivery(ctx context.Context, userID, id uuid.UUID) (Delivery, error) {
	d, err := s.store.RetryDelivery(ctx, userID, id, s.now())
	if err != nil {
		return Delivery{}, err
	}
	s.log.InfoContext(ctx, "webhook delivery retry queued", "delivery_id", FormatDeliveryID(id), "user_id", userID)
	return d, nil
}

func pageParams(limit int, cursor string) (int, paging.Cursor, error) {
	limit, err := paging.Limit(limit)
	if err != nil {
		return 0, paging.Cursor{}, err
	}
	after, err := paging.ParseCursor(cursor)
	return limit, after, err
}

// Endpoint returns the user's endpoint, or ErrNotFound.
func (s *Service) Endpoint(ctx context.Context, userID, id uuid.UUID) (Endpoint, error) {
	return s.store.Endpoint(ctx, userID, id)
}
