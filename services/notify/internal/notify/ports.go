package notify

import (
	"context"
	"time"

	"github.com/google/uuid"
)

// Store keeps emails. Create inserts the email and its send job in one
// transaction; the Mark methods change only a queued email and report
// ErrEmailNotFound when there is none (already final, or gone).
type Store interface {
	// Create stores e (status queued) and queues its send, unless the
	// producer already used the key: then it stores nothing and returns
	// the first email and created=false.
	Create(ctx context.Context, e Email) (stored Email, created bool, err error)
	// Email returns the email with this id, or ErrEmailNotFound.
	Email(ctx context.Context, id uuid.UUID) (Email, error)
	// RecordAttempt records the start of attempt n of a queued email.
	RecordAttempt(ctx context.Context, id uuid.UUID, n int) error
	// RecordError keeps the last error of a queued email that will be retried.
	RecordError(ctx context.Context, id uuid.UUID, lastError string) error
	// Finish moves a queued email to a final status with lastError (the
	// reason for failed or dropped; empty for sent, which keeps the error
	// of its last failed attempt) and erases its data.
	Finish(ctx context.Context, id uuid.UUID, status Status, lastError string) error
	// Abandoned returns up to limit queued emails that no send job will
	// work any more (its last attempt was cut short, or an operator
	// discarded it), oldest first.
	Abandoned(ctx context.Context, limit int) ([]Email, error)
	// Prune deletes up to limit final emails that finished before cutoff
	// and returns how many it deleted.
	Prune(ctx context.Context, cutoff time.Time, limit int) (int64, error)
}

// Contacts looks up a user's address at send time (identity).
type Contacts interface {
	// Contact returns the user's address and whether the account is
	// active, or ErrUserNotFound.
	Contact(ctx context.Context, userID uuid.UUID) (Contact, error)
}

// Mailer sends a rendered message over SMTP. A failure is a *SendError.
type Mailer interface {
	Send(ctx context.Context, m Message) error
}

// Metrics counts outcomes by template.
type Metrics interface {
	// Finished counts an email that reached status (sent, failed, dropped).
	Finished(template string, status Status)
	// SendFailed counts a failed SMTP attempt, temporary or not.
	SendFailed(template string, temporary bool)
}
