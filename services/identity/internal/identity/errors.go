// Package identity holds the rules of accounts, passwords, logins, refresh
// tokens and signing keys. It knows neither gRPC nor Postgres: the store it
// needs is the Store interface, implemented in internal/postgres. Invalid
// input is a *validation.Error, lists page with platform/paging.
package identity

import (
	"errors"
	"fmt"
	"time"
)

// Sentinel errors of the identity rules; the transport maps each once.
var (
	// ErrEmailTaken: another user has this email in any letter case.
	ErrEmailTaken = errors.New("email is already registered")
	// ErrInvalidCredentials covers unknown email, wrong password and a
	// disabled account alike, so a caller cannot tell them apart.
	ErrInvalidCredentials = errors.New("invalid email or password")
	// ErrInvalidToken: the refresh token is unknown, expired, rotated or revoked.
	ErrInvalidToken = errors.New("invalid refresh token")
	// ErrTokenReused: an already-rotated refresh token was presented; its
	// whole family has been revoked. It is also an ErrInvalidToken.
	ErrTokenReused = fmt.Errorf("%w: reuse of a rotated token", ErrInvalidToken)
	// ErrNotFound: no such user (or one the caller may not see).
	ErrNotFound = errors.New("not found")
	// ErrForbidden: the caller is not an active admin.
	ErrForbidden = errors.New("admin role required")
	// ErrUnauthorized: the caller's account no longer exists or is disabled.
	ErrUnauthorized = errors.New("account is disabled or gone")
	// ErrSelfChange: an admin tried to disable or demote themselves.
	ErrSelfChange = errors.New("admins cannot disable or demote themselves; ask another admin")
	// ErrBusy: no password-hashing slot came free in time; the caller may
	// retry shortly (it is not the caller's fault, nor a failure).
	ErrBusy = errors.New("too many password checks at once; retry shortly")
	// ErrInvalidAPIKey: the API key is unknown, revoked or expired, or its
	// user is disabled; callers are not told which.
	ErrInvalidAPIKey = errors.New("invalid api key")
	// ErrAPIKeyNotFound: no such API key among the caller's. It is also an
	// ErrNotFound.
	ErrAPIKeyNotFound = fmt.Errorf("api key %w", ErrNotFound)
	// ErrInvalidLink: an emailed link's token is unknown, used, ended by a
	// newer link, or expired (or, for a reset, its account is disabled).
	ErrInvalidLink = errors.New("the link is invalid, used or expired; ask for a new one")
	// ErrAlreadyVerified: a verification email was asked for a verified email.
	ErrAlreadyVerified = errors.New("the email is verified already")
	// ErrLimitReached: the user holds MaxActiveAPIKeys active keys already.
	ErrLimitReached = errors.New("limit of active api keys reached")
)

// ThrottledError says a login was refused because of too many recent
// failures (from this client, or on this account from unknown clients);
// RetryAfter is how long until the next attempt may run.
type ThrottledError struct {
	RetryAfter time.Duration
}

// Error implements error.
func (e *ThrottledError) Error() string {
	return "too many failed logins; retry later"
}
