package identity

import (
	"context"
	"crypto/ed25519"
	"time"
)

// RefreshToken is a stored refresh token: only its hash is kept.
type RefreshToken struct {
	Hash      []byte
	FamilyID  string
	UserID    string
	ExpiresAt time.Time
}

// SigningKey is the public half of an access-token signing key.
type SigningKey struct {
	Kid         string
	PublicKey   ed25519.PublicKey
	ActivatedAt time.Time
	// RetiredAt is nil for the active key.
	RetiredAt *time.Time
}

// UserQuery selects a page of users, newest first.
type UserQuery struct {
	// Query is a case-insensitive substring of the email; "" for all.
	Query string
	Limit int
	After *Cursor
}

// AuditQuery selects a page of audit events, newest first.
type AuditQuery struct {
	TargetID string
	Limit    int
	After    *Cursor
}

// Store persists the identity data. Every method is atomic on its own.
// Missing users are ErrNotFound; a duplicate email is ErrEmailTaken.
type Store interface {
	// CreateUser stores u, and in the same transaction first (when not nil,
	// with its UserID set to u.ID) and audit (when not nil).
	CreateUser(ctx context.Context, u NewUser, first *RefreshToken, audit *AuditEvent, now time.Time) (User, error)
	AccountByEmail(ctx context.Context, email string) (Account, error)
	UserByID(ctx context.Context, id string) (User, error)

	InsertRefreshToken(ctx context.Context, t RefreshToken, now time.Time) error
	// RotateRefreshToken marks the live token oldHash rotated and stores next
	// in its family, if check accepts the token's user; all or nothing.
	// A token that is unknown, expired or revoked is ErrInvalidToken; one
	// already rotated is ErrTokenReused (nothing is revoked by the store).
	RotateRefreshToken(ctx context.Context, oldHash []byte, next RefreshToken, now time.Time, check func(User) error) (User, error)
	// RevokeFamily revokes every live token of the family of tokenHash;
	// an unknown hash is not an error.
	RevokeFamily(ctx context.Context, tokenHash []byte, now time.Time) error

	// ClaimLoginAttempt locks the failure counter of key (zero if none),
	// asks decide for the wait, and when it is 0 stores decide's new counter.
	ClaimLoginAttempt(ctx context.Context, key string, decide func(LoginFailures) (LoginFailures, time.Duration)) (time.Duration, error)
	ResetLoginFailures(ctx context.Context, key string) error

	ListUsers(ctx context.Context, q UserQuery) ([]User, error)
	// UpdateUser applies ch under a row lock, revokes the user's refresh
	// tokens if it disables the user, and writes AuditEventsForChange; all
	// in one transaction.
	UpdateUser(ctx context.Context, ch UserChange, now time.Time) (User, error)
	ListAuditEvents(ctx context.Context, q AuditQuery) ([]AuditEvent, error)
	// UserStats counts users; users created at or after todayStart and
	// since30d count as new today and new in 30 days.
	UserStats(ctx context.Context, todayStart, since30d time.Time) (UserStats, error)

	// ActivateSigningKey registers kid as the active key (re-activating it if
	// it was retired) and retires every other active key.
	ActivateSigningKey(ctx context.Context, kid string, pub ed25519.PublicKey, now time.Time) error
	// PublishedSigningKeys returns the active key and keys retired after retiredAfter.
	PublishedSigningKeys(ctx context.Context, retiredAfter time.Time) ([]SigningKey, error)

	// Prune deletes refresh tokens that expired before tokensExpiredBefore
	// and failure counters last touched before failuresBefore.
	Prune(ctx context.Context, tokensExpiredBefore, failuresBefore time.Time) (tokens, failures int64, err error)
}

// UserStats are the user counts of the admin overview.
type UserStats struct {
	Total, Active, Admins int64
	NewToday, New30d      int64
}
