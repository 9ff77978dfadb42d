package webhooks

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/meterflow/meterflow/platform/stdwebhooks"
	"github.com/meterflow/meterflow/services/notify/internal/notify"
)

const tracerName = "github.com/meterflow/meterflow/services/notify/internal/webhooks"

// bookkeepingTimeout bounds the writes that record an attempt; they run
// even when the attempt's own context was canceled (shutdown).
const bookkeepingTimeout = 5 * time.Second

// MaxLastError bounds the answer kept in a delivery's last_error (1 KiB).
const MaxLastError = 1024

// ErrRetry is returned (wrapped) by Deliver when the attempt failed and
// another is scheduled: the queue runs the job again at RetryAt.
var ErrRetry = errors.New("webhook attempt failed; retrying")

// Attempt is one run of a delivery's job.
type Attempt struct {
	DeliveryID uuid.UUID
	// RetryAfter is the wait from the end of this attempt to the next, if
	// this one fails; zero when this is the last one (the schedule's
	// eighth, or a manual retry).
	RetryAfter time.Duration
	// Manual: a retry the user asked for, made whatever the endpoint's state.
	Manual bool
}

// Deliver makes one attempt at a delivery: it signs the event's body with
// the endpoint's secrets (both during a rotation), POSTs it, and records
// the outcome with the delivery's new state and the endpoint's, disabling
// the endpoint when the rule says so. It returns nil when the delivery
// needs no more attempts (succeeded, failed for good, gone, or final
// already) and an error wrapping ErrRetry when the next is scheduled.
//
// Delivery is at least once: a crash between the receiver's 2xx and the
// record leaves the delivery pending and it is sent again, with the same
// webhook-id, which receivers deduplicate on.
func (s *Service) Deliver(ctx context.Context, a Attempt) error {
	d, ep, body, err := s.store.Attempt(ctx, a.DeliveryID)
	if errors.Is(err, ErrNotFound) {
		return nil // its endpoint was deleted
	}
	if err != nil {
		return fmt.Errorf("load delivery %s: %w", FormatDeliveryID(a.DeliveryID), err)
	}
	if d.Status != StatusPending {
		return nil
	}
	if !ep.Enabled && !a.Manual {
		return s.record(s.store.FailDelivery(ctx, d.ID, "not sent: the endpoint is disabled ("+ep.DisabledReason+")"), StatusFailed)
	}
	ctx, span := otel.Tracer(tracerName).Start(ctx, "webhooks.Deliver", trace.WithAttributes(
		attribute.String("webhook.id", FormatDeliveryID(d.ID)), attribute.String("webhook.event_type", d.EventType)))
	defer span.End()
	started := s.now()
	n, err := s.store.StartAttempt(ctx, d.ID, started)
	if errors.Is(err, ErrNotPending) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delivery %s: start attempt: %w", FormatDeliveryID(d.ID), err)
	}
	span.SetAttributes(attribute.Int("webhook.attempt", n))
	rec := AttemptRecord{DeliveryID: d.ID, EndpointID: ep.ID, N: n, StartedAt: started}
	s.attempt(ctx, ep, d, body, &rec)
	if a.RetryAfter > 0 {
		rec.RetryAt = time.Now().Add(a.RetryAfter)
	}
	if !rec.Succeeded {
		span.SetStatus(codes.Error, "not delivered")
	}
	return s.finish(ctx, ep, d, rec)
}

// attempt signs and sends, and fills in what came back.
func (s *Service) attempt(ctx context.Context, ep Endpoint, d Delivery, body []byte, rec *AttemptRecord) {
	defer func() { rec.Duration = s.now().Sub(rec.StartedAt) }()
	if msg := s.urls.schemeAllowed(ep.URL); msg != "" {
		rec.Error = msg
		s.metrics.Attempted("blocked")
		return
	}
	keys, err := s.signingKeys(ep)
	if err != nil {
		s.log.ErrorContext(ctx, "cannot open a webhook endpoint's secret (was WEBHOOK_SECRETS_KEY changed?)", "endpoint_id", ep.ID, "err", err)
		rec.Error = "not sent: Meterflow could not open the endpoint's secret; rotate it"
		s.metrics.Attempted("transport_error")
		return
	}
	id, ts := FormatDeliveryID(d.ID), time.Now()
	sig, err := stdwebhooks.Sign(id, ts, body, keys...)
	if err != nil {
		rec.Error = "not sent: signing failed"
		s.metrics.Attempted("transport_error")
		return
	}
	resp := s.sender.Send(ctx, Request{URL: ep.URL, ID: id, Timestamp: ts, Signature: sig, Body: body})
	rec.ResponseStatus = resp.Status
	switch {
	case resp.Status >= 200 && resp.Status < 300:
		rec.Succeeded = true
		s.metrics.Attempted("success")
	case resp.Status != 0:
		rec.Gone = resp.Status == 410
		rec.Error = answerError(resp)
		s.metrics.Attempted("http_error")
	case resp.Blocked:
		rec.Error = resp.Error
		s.metrics.Attempted("blocked")
	default:
		rec.Error = resp.Error
		s.metrics.Attempted("transport_error")
	}
}

// finish records the attempt; a failed one is retried at RetryAt unless it
// was the last, or the endpoint is gone or now disabled.
func (s *Service) finish(ctx context.Context, ep Endpoint, d Delivery, rec AttemptRecord) error {
	if rec.Succeeded || rec.Gone {
		rec.RetryAt = time.Time{}
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), bookkeepingTimeout)
	defer cancel()
	now := s.now()
	var reason string
	disabled, err := s.store.RecordAttempt(wctx, rec, func(locked Endpoint) *Disable {
		reason = disableReason(rec, locked, now)
		if reason == "" {
			return nil
		}
		email, err := s.disabledEmail(ctx, locked, reason, now)
		if err != nil {
			s.log.ErrorContext(ctx, "cannot build the endpoint-disabled email", "endpoint_id", locked.ID, "err", err)
		}
		return &Disable{Reason: reason, Email: email}
	})
	if err != nil {
		return fmt.Errorf("delivery %s: record attempt %d: %w", FormatDeliveryID(d.ID), rec.N, err)
	}
	log := s.log.With("delivery_id", FormatDeliveryID(d.ID), "endpoint_id", ep.ID, "event_type", d.EventType, "attempt", rec.N)
	if disabled {
		why := "failing"
		if rec.Gone {
			why = "gone"
		}
		s.metrics.Disabled(why)
		log.WarnContext(ctx, "webhook endpoint disabled", "reason", reason)
	}
	switch {
	case rec.Succeeded:
		s.metrics.Finished(StatusSucceeded)
		log.InfoContext(ctx, "webhook delivered", "status", rec.ResponseStatus)
		return nil
	case rec.RetryAt.IsZero() || disabled:
		s.metrics.Finished(StatusFailed)
		log.WarnContext(ctx, "webhook delivery failed", "status", rec.ResponseStatus)
		return nil
	}
	log.InfoContext(ctx, "webhook attempt failed; will retry", "status", rec.ResponseStatus, "retry_at", rec.RetryAt)
	return fmt.Errorf("%w: delivery %s attempt %d", ErrRetry, FormatDeliveryID(d.ID), rec.N)
}

// record counts a delivery that FailDelivery ended.
func (s *Service) record(err error, st Status) error {
	if errors.Is(err, ErrNotPending) || errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	s.metrics.Finished(st)
	return nil
}

// disabledEmail is the webhook_endpoint_disabled email to the endpoint's
// owner, keyed by the endpoint and the moment so it is queued once.
func (s *Service) disabledEmail(ctx context.Context, ep Endpoint, reason string, now time.Time) (notify.Email, error) {
	return s.emails.NewEmail(ctx, notify.Request{
		Producer: "notify", IdempotencyKey: fmt.Sprintf("webhook_endpoint_disabled:%s:%d", ep.ID, now.UnixMilli()),
		Template: "webhook_endpoint_disabled", ToUserID: ep.UserID,
		Data: map[string]string{"endpoint_url": ep.URL, "endpoint_id": ep.ID.String(), "reason": reason},
	})
}

// answerError is a non-2xx answer as last_error: the status and up to
// MaxLastError bytes of the body (the receiver's own words).
func answerError(r Response) string {
	msg := fmt.Sprintf("HTTP %d", r.Status)
	if r.Status >= 300 && r.Status < 400 {
		msg += " (a redirect; redirects are not followed)"
	}
	if b := strings.TrimSpace(strings.ToValidUTF8(string(r.Body), "")); b != "" {
		msg += ": " + b
	}
	if len(msg) > MaxLastError {
		msg = strings.ToValidUTF8(msg[:MaxLastError], "")
	}
	return msg
}

// schemeAllowed re-checks the scheme on every attempt: a URL stored in
// development is not sent over plain HTTP by a production process.
func (p URLPolicy) schemeAllowed(raw string) string {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return "not sent: the URL does not parse"
	case u.Scheme == "https", u.Scheme == "http" && p.AllowHTTP:
		return ""
	}
	return "not sent: only https:// URLs are allowed"
}
