// Package notify holds the rules of email delivery: which templates exist
// and what each needs (templates.go), how a request is checked and stored
// once per key (queue.go), and how a stored email is resolved, rendered and
// sent, or dropped, or given up on (deliver.go). It declares the ports it
// needs (ports.go) and imports neither gRPC, SMTP nor Postgres.
package notify

import (
	"time"

	"github.com/google/uuid"
)

// Status is where an email is in its life.
type Status string

// The statuses of an email. Only StatusQueued changes.
const (
	// StatusQueued: stored, waiting for a send or a retry.
	StatusQueued Status = "queued"
	// StatusSent: the SMTP server accepted it.
	StatusSent Status = "sent"
	// StatusFailed: the SMTP server refused it for good, or every attempt
	// failed.
	StatusFailed Status = "failed"
	// StatusDropped: not sent on purpose (the user no longer exists, or the
	// account is disabled and the email is not a security email).
	StatusDropped Status = "dropped"
)

// Request is one email a service asks for (NotifyService.SendEmail).
type Request struct {
	// Producer is the calling service, from its service token. Keys are
	// unique per producer.
	Producer string
	// IdempotencyKey is the producer's key, 1-255 characters.
	IdempotencyKey string
	// Template names a template of Templates.
	Template string
	// ToUserID or ToAddress is the recipient: exactly one is set.
	ToUserID  uuid.UUID
	ToAddress string
	// Data fills the template; it may hold secrets and is never logged.
	Data map[string]string
}

// Email is a stored email.
type Email struct {
	ID             uuid.UUID
	Producer       string
	IdempotencyKey string
	RequestHash    []byte
	Template       string
	ToUserID       uuid.UUID
	ToAddress      string
	// Data is the template's declared fields as the producer sent them
	// (others are not stored); empty once the email is final.
	Data      map[string]string
	Status    Status
	Attempts  int
	LastError string
	CreatedAt time.Time
	// FinishedAt is when the email left StatusQueued.
	FinishedAt *time.Time
	// Trace carries the trace of the SendEmail call into the send, so one
	// trace runs from the producer's request to the SMTP server.
	Trace map[string]string
}

// Contact is where to reach a user, as identity knows it at send time.
type Contact struct {
	Email  string
	Active bool
}

// Message is a rendered email ready for SMTP.
type Message struct {
	// ID is the email's id; the mailer derives the Message-ID from it, so a
	// resend of the same email (after a crash mid-send) carries the same one.
	ID       uuid.UUID
	Template string
	To       string
	Subject  string
	Text     string
	HTML     string
}
