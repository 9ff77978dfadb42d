package identity

import (
	"context"
	"crypto/ed25519"
	"time"

	"github.com/google/uuid"

	"github.com/meterflow/meterflow/platform/paging"
)

// RefreshToken is a stored refresh token: only its hash is kept.
type RefreshToken struct {
	Hash      []byte
	FamilyID  uuid.UUID
	UserID    uuid.UUID
	ExpiresAt time.Time
	// LoginExpiresAt, when set, is the end of the whole login: no rotation
	// gives a token of the family a later ExpiresAt.
	LoginExpiresAt *time.Time
}

// UserUpdate is a decided change of a user that Store.UpdateUser writes in
// one transaction: the user's flags and verified email as After has them,
// the password when PasswordHash is set, the revocation of every refresh
// token of the user (but those of the login family KeepFamily, when not
// uuid.Nil) when RevokeTokens, the end of the user's live links of the
// purposes EndLinks, a new link (which first ends the live links of its
// purpose), the emails (through the outbox) and the audit events.
type UserUpdate struct {
	After        User
	PasswordHash string
	RevokeTokens bool
	KeepFamily   uuid.UUID
	EndLinks     []Purpose
	Link         *AccountToken
	Emails       []Email
	Audit        []AuditEvent
}

// UserWrites are the rows Store.CreateUser writes with a new user, each
// when set: its first refresh token, an audit event, a link and emails.
type UserWrites struct {
	First  *RefreshToken
	Audit  *AuditEvent
	Link   *AccountToken
	Emails []Email
}

// PruneBefore are the cut-offs of Store.Prune.
type PruneBefore struct {
	// TokensExpired: refresh tokens and links that expired before it.
	TokensExpired time.Time
	// Failures: failure counters last touched before it.
	Failures time.Time
	// KnownClients: remembered clients whose last login is before it.
	KnownClients time.Time
}

// Pruned counts the rows Store.Prune deleted.
type Pruned struct {
	Tokens, Failures, KnownClients, Links int64
}

// SigningKey is the public half of an access-token signing key.
type SigningKey struct {
	Kid         string
	PublicKey   ed25519.PublicKey
	ActivatedAt time.Time
	// RetiredAt is when the key's lease ended: no replica signs with it
	// since. Nil while one does (the key is active).
	RetiredAt *time.Time
}

// UserQuery selects a page of users, newest first.
type UserQuery struct {
	// Query is a case-insensitive substring of the email; "" for all.
	Query string
	Limit int
	// After is the position the page starts after; zero for the first page.
	After paging.Cursor
}

// AuditQuery selects a page of audit events, newest first.
type AuditQuery struct {
	// TargetID is the events' target (AuditEvent.TargetID); "" for all.
	TargetID string
	Limit    int
	After    paging.Cursor
}

// Store persists the identity data. Every method is atomic on its own.
// Missing users are ErrNotFound; a duplicate email is ErrEmailTaken.
type Store interface {
	// CreateUser stores u, and in the same transaction w's rows.
	CreateUser(ctx context.Context, u NewUser, w UserWrites, now time.Time) (User, error)
	AccountByEmail(ctx context.Context, email string) (Account, error)
	AccountByID(ctx context.Context, id uuid.UUID) (Account, error)
	UserByID(ctx context.Context, id uuid.UUID) (User, error)

	InsertRefreshToken(ctx context.Context, t RefreshToken, now time.Time) error
	// RotateRefreshToken marks the live token oldHash rotated and stores the
	// token that next returns for it (old has its family, user and login
	// end) and its user; next's error aborts it all. A token that is
	// unknown, expired or revoked is ErrInvalidToken; one already rotated
	// is ErrTokenReused (nothing is revoked by the store).
	RotateRefreshToken(ctx context.Context, oldHash []byte, now time.Time, next func(old RefreshToken, u User) (RefreshToken, error)) (User, error)
	// RevokeFamily revokes every live token of the family of tokenHash;
	// an unknown hash is not an error.
	RevokeFamily(ctx context.Context, tokenHash []byte, now time.Time) error

	// ClaimLoginAttempt locks the account's and then the client's failure
	// counters of key (zero if none), reads the client's last success on
	// the account, asks decide for the wait, and when it is 0 stores
	// decide's new counters; one transaction.
	ClaimLoginAttempt(ctx context.Context, key LoginKey, decide func(LoginState) (LoginState, time.Duration)) (time.Duration, error)
	// RecordLoginSuccess forgets the client's failures on the account and,
	// when remember is set, stores now as the client's last success on it.
	RecordLoginSuccess(ctx context.Context, key LoginKey, remember bool, now time.Time) error

	ListUsers(ctx context.Context, q UserQuery) ([]User, error)
	// UpdateUser locks the user id, asks decide for the change of the user
	// as stored, and writes the UserUpdate it returns; a nil one changes
	// nothing and returns the user as it is, decide's error aborts. One
	// transaction.
	UpdateUser(ctx context.Context, id uuid.UUID, now time.Time, decide func(before User) (*UserUpdate, error)) (User, error)
	// UseAccountToken marks the live link tokenHash of purpose used and
	// then, in the same transaction, does what UpdateUser does for its
	// user. A link that is unknown, of another purpose, used, ended or
	// expired is ErrInvalidLink; of two concurrent uses one wins.
	UseAccountToken(ctx context.Context, tokenHash []byte, purpose Purpose, now time.Time, decide func(before User) (*UserUpdate, error)) (User, error)
	// EnqueuePasswordReset queues SendPasswordReset for email: one job
	// inserted and committed, whoever owns the email.
	EnqueuePasswordReset(ctx context.Context, email string) error
	ListAuditEvents(ctx context.Context, q AuditQuery) ([]AuditEvent, error)
	// UserStats counts users; users created at or after todayStart and
	// since30d count as new today and new in 30 days.
	UserStats(ctx context.Context, todayStart, since30d time.Time) (UserStats, error)

	// PublishSigningKey registers kid (first seen now) or extends its lease
	// to leaseEnd, never shortening it; keys registered before leases get
	// one lease to leaseEnd. It retires no key.
	PublishSigningKey(ctx context.Context, kid string, pub ed25519.PublicKey, now, leaseEnd time.Time) error
	// PublishedSigningKeys returns the keys whose lease ends after
	// retiredAfter, and those without a lease.
	PublishedSigningKeys(ctx context.Context, retiredAfter time.Time) ([]SigningKey, error)

	// Prune deletes the rows older than the cut-offs of b.
	Prune(ctx context.Context, b PruneBefore) (Pruned, error)

	APIKeyStore
}

// UserStats are the user counts of the admin overview.
type UserStats struct {
	Total, Active, Admins int64
	NewToday, New30d      int64
}
