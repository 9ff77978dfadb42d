package notify

import "errors"

// ErrEmailNotFound: no stored email has this id (pruned, or never stored).
var ErrEmailNotFound = errors.New("email not found")

// ErrUserNotFound: identity knows no user with this id (Contacts).
var ErrUserNotFound = errors.New("user not found")

// ErrPermanent marks a delivery error no retry can fix: the email is
// recorded failed and its job is not retried (the queue's worker checks
// errors.Is(err, ErrPermanent)).
var ErrPermanent = errors.New("permanent delivery error")

// SendError is the mailer's account of a failed send. Its Error is safe to
// log: codes and a class, never the message, the recipient or the server's
// text, which go to Detail (stored as the email's last_error).
type SendError struct {
	// Temporary: the same send may succeed later (a 4xx reply, a refused
	// or broken connection, a timeout).
	Temporary bool
	// Summary is the loggable part: "smtp 451 4.7.1" or "connection refused".
	Summary string
	// Detail adds the server's reply text, for the stored last_error.
	Detail string
}

func (e *SendError) Error() string {
	if e.Temporary {
		return "temporary send error: " + e.Summary
	}
	return "permanent send error: " + e.Summary
}
