package notify

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// tracerName names this package's spans. The tracer is looked up per
// email, from the provider installed now (one lookup per email is cheap,
// and a test that installs its own provider sees the spans).
const tracerName = "github.com/meterflow/meterflow/services/notify/internal/notify"

// bookkeepingTimeout bounds the writes that record an attempt's outcome;
// they run even when the attempt's own context was canceled (shutdown).
const bookkeepingTimeout = 5 * time.Second

// maxLastError bounds a stored last_error, in bytes.
const maxLastError = 1000

// Attempt is one try at sending a queued email: one run of its job.
type Attempt struct {
	EmailID uuid.UUID
	// N counts the tries, from 1.
	N int
	// Last: no retry follows this try, so a temporary failure now fails
	// the email.
	Last bool
}

// Deliver makes one attempt at email a.EmailID: it resolves the recipient
// (a user's address from identity, now), renders the template and hands
// the message to the SMTP server. It returns nil when the email is done
// with (sent, dropped, or final already: a repeated job sends nothing),
// an error wrapping ErrPermanent when it failed for good, and any other
// error when the attempt should be retried.
//
// Between the SMTP server's acceptance and the sent mark, a crash leaves
// the email queued and it is sent again: delivery is at least once. The
// Message-ID is the same on every attempt (Message.ID), so the rare
// duplicate is recognisable.
func (s *Service) Deliver(ctx context.Context, a Attempt) error {
	e, err := s.store.Email(ctx, a.EmailID)
	if errors.Is(err, ErrEmailNotFound) {
		s.log.WarnContext(ctx, "send job for an email that no longer exists", "email_id", a.EmailID)
		return nil
	}
	if err != nil {
		return fmt.Errorf("load email %s: %w", a.EmailID, err)
	}
	if e.Status != StatusQueued {
		return nil
	}
	ctx, span := otel.Tracer(tracerName).Start(ctx, "notify.Deliver", trace.WithAttributes(
		attribute.String("email.id", e.ID.String()), attribute.String("email.template", e.Template), attribute.Int("email.attempt", a.N)))
	defer span.End()
	err = s.deliver(ctx, e, a)
	if err != nil {
		span.SetStatus(codes.Error, "not sent")
	}
	return err
}

func (s *Service) deliver(ctx context.Context, e Email, a Attempt) error {
	err := s.store.RecordAttempt(ctx, e.ID, a.N)
	if errors.Is(err, ErrEmailNotFound) {
		return nil // final since it was read: another attempt finished it
	}
	if err != nil {
		return fmt.Errorf("email %s: record attempt: %w", e.ID, err)
	}
	tmpl, ok := Lookup(e.Template)
	if !ok {
		return s.fail(ctx, e, a, "this build has no "+e.Template+" template", "")
	}
	to, drop, err := s.recipient(ctx, e, tmpl)
	if err != nil {
		return s.retry(ctx, e, a, &SendError{Temporary: true, Summary: "recipient lookup failed", Detail: "identity: " + err.Error()})
	}
	if drop != "" {
		s.log.InfoContext(ctx, "email dropped", "email_id", e.ID, "template", e.Template, "reason", drop)
		return s.finish(ctx, e, StatusDropped, drop)
	}
	out, err := s.render.Render(tmpl, e.Data)
	if err != nil {
		return s.fail(ctx, e, a, "rendering failed", err.Error())
	}
	err = s.mailer.Send(ctx, Message{ID: e.ID, Template: e.Template, To: to, Subject: out.Subject, Text: out.Text, HTML: out.HTML})
	var se *SendError
	switch {
	case err == nil:
		s.log.InfoContext(ctx, "email sent", "email_id", e.ID, "template", e.Template, "attempt", a.N)
		return s.finish(ctx, e, StatusSent, "")
	case !errors.As(err, &se):
		se = &SendError{Temporary: true, Summary: "send interrupted", Detail: err.Error()}
	}
	s.metrics.SendFailed(e.Template, se.Temporary)
	if !se.Temporary {
		return s.fail(ctx, e, a, se.Error(), se.Detail)
	}
	return s.retry(ctx, e, a, se)
}

// recipient returns the address to send e to, or why e is dropped.
func (s *Service) recipient(ctx context.Context, e Email, tmpl Template) (to, drop string, err error) {
	if e.ToAddress != "" {
		return e.ToAddress, "", nil
	}
	c, err := s.contacts.Contact(ctx, e.ToUserID)
	switch {
	case errors.Is(err, ErrUserNotFound):
		return "", "the user does not exist", nil
	case err != nil:
		return "", "", err
	case !c.Active && !tmpl.Security:
		return "", "the account is disabled (only security emails reach it)", nil
	case checkAddress(c.Email) != "":
		return "", "the user's address is not one we can send to", nil
	}
	return c.Email, "", nil
}

// retry records a temporary failure; on the last attempt the email fails.
func (s *Service) retry(ctx context.Context, e Email, a Attempt, se *SendError) error {
	if a.Last {
		return s.fail(ctx, e, a, fmt.Sprintf("gave up after %d attempts: %s", a.N, se.Error()), se.Detail)
	}
	s.log.WarnContext(ctx, "email not sent; will retry", "email_id", e.ID, "template", e.Template, "attempt", a.N, "err", se.Error())
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), bookkeepingTimeout)
	defer cancel()
	if err := s.store.RecordError(wctx, e.ID, lastError(se.Error(), se.Detail)); err != nil && !errors.Is(err, ErrEmailNotFound) {
		s.log.ErrorContext(ctx, "recording a send error failed", "email_id", e.ID, "err", err)
	}
	return fmt.Errorf("email %s: %s", e.ID, se.Error())
}

// fail records e failed for good and returns an error wrapping ErrPermanent.
func (s *Service) fail(ctx context.Context, e Email, a Attempt, why, detail string) error {
	s.log.ErrorContext(ctx, "email failed", "email_id", e.ID, "template", e.Template, "attempt", a.N, "err", why)
	if err := s.finish(ctx, e, StatusFailed, lastError(why, detail)); err != nil {
		return err
	}
	return fmt.Errorf("email %s: %w: %s", e.ID, ErrPermanent, why)
}

// finish records e's final status. An email already final (a second
// worker, in theory) is left as it is.
func (s *Service) finish(ctx context.Context, e Email, st Status, reason string) error {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), bookkeepingTimeout)
	defer cancel()
	err := s.store.Finish(wctx, e.ID, st, reason)
	if errors.Is(err, ErrEmailNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("email %s: record %s: %w", e.ID, st, err)
	}
	s.metrics.Finished(e.Template, st)
	return nil
}

// lastError joins the loggable summary and the detail (a server's reply)
// for the stored last_error, bounded.
func lastError(summary, detail string) string {
	s := summary
	if detail != "" && detail != summary {
		s += ": " + detail
	}
	if len(s) > maxLastError {
		s = strings.ToValidUTF8(s[:maxLastError], "")
	}
	return s
}
