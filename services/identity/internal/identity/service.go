package identity

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/meterflow/meterflow/platform/paging"
	"github.com/meterflow/meterflow/platform/validation"
)

// MaxReasonLength bounds the reason an admin gives for a change.
const MaxReasonLength = 1000

// KeyRetirementGrace is how long past the access-token TTL a retired key
// stays published: tokens signed just before retirement, plus clock skew.
const KeyRetirementGrace = time.Minute

// Signing keys are leased, not switched: each replica publishes the key it
// signs with (its JWT_SIGNING_KEY_FILE) at start and renews the key's lease
// every KeyRenewInterval while it runs. A key is active as long as one
// replica renews it, and stays published for the access-token TTL plus
// KeyRetirementGrace after its lease ended, so every token it signed
// verifies until it expires. No replica retires another's key: during a
// rollout old and new keys are both active, a restarted old replica does
// not take the new key's place ("the last replica to start wins"), and the
// key file alone decides what each replica signs with.
const (
	// KeyRenewInterval is how often a replica renews its key's lease.
	KeyRenewInterval = time.Minute
	// KeyLease is how long one renewal keeps a key active: two renewals,
	// so one late or failed renewal does not retire a key in use.
	KeyLease = 2 * KeyRenewInterval
)

// Config wires a Service.
type Config struct {
	Store      Store
	Hasher     *Hasher
	Signer     *Signer
	RefreshTTL time.Duration
	Throttle   LoginThrottle
	// Links builds the emailed links (PUBLIC_BASE_URL).
	Links Links
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Service implements the identity use cases.
type Service struct {
	store      Store
	hasher     *Hasher
	signer     *Signer
	refreshTTL time.Duration
	throttle   LoginThrottle
	links      Links
	now        func() time.Time
}

// NewService returns a Service for c.
func NewService(c Config) *Service {
	now := c.Now
	if now == nil {
		now = time.Now
	}
	return &Service{store: c.Store, hasher: c.Hasher, signer: c.Signer, refreshTTL: c.RefreshTTL, throttle: c.Throttle, links: c.Links, now: now}
}

// Tokens is an access token and a refresh token.
type Tokens struct {
	Access  string
	Refresh string
	// ExpiresIn is the access token's lifetime.
	ExpiresIn time.Duration
}

// Session is a user with a fresh token pair.
type Session struct {
	User   User
	Tokens Tokens
}

// Page is one page of a list and the cursor of the next ("" if none).
type Page[T any] struct {
	Items      []T
	NextCursor string
}

// SignUp creates an active, non-admin user, starts its first login family
// and emails it a verification link, in one transaction. refreshTTL, when
// positive, ends that login's refresh tokens as LoginRequest.RefreshTTL
// does (the user portal asks for its session's lifetime).
func (s *Service) SignUp(ctx context.Context, email, password string, refreshTTL time.Duration) (Session, error) {
	email = NormalizeEmail(email)
	if err := ValidateCredentials(email, password); err != nil {
		return Session{}, err
	}
	if refreshTTL < 0 {
		return Session{}, validation.Field("refresh_ttl", "must be positive")
	}
	hash, err := s.hasher.Hash(ctx, password)
	if err != nil {
		return Session{}, fmt.Errorf("sign up: %w", err)
	}
	now := s.now()
	nu := NewUser{ID: uuid.New(), Email: email, PasswordHash: hash, IsActive: true}
	refresh, rec := s.newRefreshToken(uuid.New(), s.loginEnd(refreshTTL, now), now)
	rec.UserID = nu.ID
	link, mail := s.newLink(User{ID: nu.ID, Email: email}, PurposeVerifyEmail, now)
	u, err := s.store.CreateUser(ctx, nu, UserWrites{First: &rec, Link: &link, Emails: []Email{mail}}, now)
	if err != nil {
		return Session{}, fmt.Errorf("sign up: %w", err)
	}
	return s.session(u, rec.FamilyID, refresh, now)
}

// Refresh rotates a refresh token: the old one stops working and a new pair
// is returned. Presenting an already-rotated token revokes its whole family
// (ErrTokenReused); a disabled user's tokens are ErrInvalidToken.
func (s *Service) Refresh(ctx context.Context, token string) (Tokens, error) {
	if token == "" {
		return Tokens{}, ErrInvalidToken
	}
	now := s.now()
	oldHash := HashToken(token)
	var refresh string
	var family uuid.UUID
	u, err := s.store.RotateRefreshToken(ctx, oldHash, now, func(old RefreshToken, u User) (RefreshToken, error) {
		if !u.IsActive {
			return RefreshToken{}, ErrInvalidToken
		}
		var next RefreshToken
		family = old.FamilyID
		refresh, next = s.newRefreshToken(old.FamilyID, old.LoginExpiresAt, now)
		next.UserID = old.UserID
		return next, nil
	})
	if errors.Is(err, ErrTokenReused) {
		if rerr := s.store.RevokeFamily(ctx, oldHash, now); rerr != nil {
			return Tokens{}, fmt.Errorf("refresh: revoke reused family: %w", rerr)
		}
		return Tokens{}, err
	}
	if err != nil {
		return Tokens{}, fmt.Errorf("refresh: %w", err)
	}
	sess, err := s.session(u, family, refresh, now)
	return sess.Tokens, err
}

// Logout revokes the login family of token. Unknown tokens are ignored, so
// logging out twice is fine.
func (s *Service) Logout(ctx context.Context, token string) error {
	if token == "" {
		return nil
	}
	if err := s.store.RevokeFamily(ctx, HashToken(token), s.now()); err != nil {
		return fmt.Errorf("logout: %w", err)
	}
	return nil
}

// GetUser returns the user id: the caller's own or, for an admin, any.
// Other users are ErrNotFound to non-admins: existence is not revealed. A
// disabled or deleted caller is ErrUnauthorized.
func (s *Service) GetUser(ctx context.Context, callerID, id uuid.UUID) (User, error) {
	caller, err := s.store.UserByID(ctx, callerID)
	if errors.Is(err, ErrNotFound) || (err == nil && !caller.IsActive) {
		return User{}, ErrUnauthorized
	}
	if err != nil {
		return User{}, fmt.Errorf("get user: %w", err)
	}
	if id == callerID {
		return caller, nil
	}
	if !caller.IsAdmin {
		return User{}, ErrNotFound
	}
	u, err := s.store.UserByID(ctx, id)
	if err != nil {
		return User{}, fmt.Errorf("get user: %w", err)
	}
	return u, nil
}

// Contact returns the user notify is to reach, active or not (the caller
// decides what a disabled account still gets): ErrNotFound when there is
// no such user.
func (s *Service) Contact(ctx context.Context, id uuid.UUID) (User, error) {
	u, err := s.store.UserByID(ctx, id)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return User{}, fmt.Errorf("contact: %w", err)
	}
	return u, err
}

// ListUsers returns a page of users matching query, newest first. Admin.
func (s *Service) ListUsers(ctx context.Context, callerID uuid.UUID, query string, limit int, cursor string) (Page[User], error) {
	if err := s.requireAdmin(ctx, callerID); err != nil {
		return Page[User]{}, err
	}
	n, after, err := pageRequest(limit, cursor)
	if err != nil {
		return Page[User]{}, err
	}
	users, err := s.store.ListUsers(ctx, UserQuery{Query: query, Limit: n + 1, After: after})
	if err != nil {
		return Page[User]{}, fmt.Errorf("list users: %w", err)
	}
	items, next := paging.Trim(users, n, func(u User) paging.Cursor { return paging.Cursor{CreatedAt: u.CreatedAt, ID: u.ID} })
	return Page[User]{Items: items, NextCursor: next}, nil
}

// UpdateUser changes a user's is_active / is_admin flags. Admin. Admins
// cannot disable or demote themselves (ErrSelfChange), so the last admin
// cannot lock everyone out by mistake.
func (s *Service) UpdateUser(ctx context.Context, callerID uuid.UUID, ch UserChange) (User, error) {
	if err := s.requireAdmin(ctx, callerID); err != nil {
		return User{}, err
	}
	if utf8.RuneCountInString(ch.Reason) > MaxReasonLength {
		return User{}, validation.Field("reason", "must be at most 1000 characters")
	}
	if ch.ID == callerID && ((ch.IsActive != nil && !*ch.IsActive) || (ch.IsAdmin != nil && !*ch.IsAdmin)) {
		return User{}, ErrSelfChange
	}
	now := s.now()
	u, err := s.store.UpdateUser(ctx, ch.ID, now, func(before User) (*UserUpdate, error) {
		return ch.decide(before, callerID.String(), now)
	})
	if err != nil {
		return User{}, fmt.Errorf("update user: %w", err)
	}
	return u, nil
}

// ListAuditEvents returns a page of audit events, newest first. Admin.
func (s *Service) ListAuditEvents(ctx context.Context, callerID uuid.UUID, targetID string, limit int, cursor string) (Page[AuditEvent], error) {
	if err := s.requireAdmin(ctx, callerID); err != nil {
		return Page[AuditEvent]{}, err
	}
	n, after, err := pageRequest(limit, cursor)
	if err != nil {
		return Page[AuditEvent]{}, err
	}
	events, err := s.store.ListAuditEvents(ctx, AuditQuery{TargetID: targetID, Limit: n + 1, After: after})
	if err != nil {
		return Page[AuditEvent]{}, fmt.Errorf("list audit events: %w", err)
	}
	items, next := paging.Trim(events, n, func(e AuditEvent) paging.Cursor { return paging.Cursor{CreatedAt: e.CreatedAt, ID: e.ID} })
	return Page[AuditEvent]{Items: items, NextCursor: next}, nil
}

// UserStats counts users for the admin overview. Admin. "Today" starts at
// 00:00 UTC, like the wallet's money totals, so the overview's numbers share
// one calendar.
func (s *Service) UserStats(ctx context.Context, callerID uuid.UUID) (UserStats, error) {
	if err := s.requireAdmin(ctx, callerID); err != nil {
		return UserStats{}, err
	}
	now := s.now().UTC()
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	st, err := s.store.UserStats(ctx, today, now.Add(-30*24*time.Hour))
	if err != nil {
		return UserStats{}, fmt.Errorf("user stats: %w", err)
	}
	return st, nil
}

// PublishSigningKey publishes the signer's key and renews its lease for
// KeyLease: at start and every KeyRenewInterval while the replica runs.
func (s *Service) PublishSigningKey(ctx context.Context) error {
	now := s.now()
	if err := s.store.PublishSigningKey(ctx, s.signer.KeyID(), s.signer.PublicKey(), now, now.Add(KeyLease)); err != nil {
		return fmt.Errorf("publish signing key: %w", err)
	}
	return nil
}

// SigningKeys returns the keys whose tokens may still be valid: the active
// keys (a replica renews their lease) and keys whose lease ended less than
// the access-token TTL plus KeyRetirementGrace ago, which carry their
// RetiredAt.
func (s *Service) SigningKeys(ctx context.Context) ([]SigningKey, error) {
	now := s.now()
	keys, err := s.store.PublishedSigningKeys(ctx, now.Add(-s.signer.TTL()-KeyRetirementGrace))
	if err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}
	for i, k := range keys {
		if k.RetiredAt != nil && k.RetiredAt.After(now) {
			keys[i].RetiredAt = nil // its lease runs: active
		}
	}
	return keys, nil
}

// expiredTokenRetention keeps expired refresh tokens a day, so that a
// rotated token replayed just after expiry still revokes its family.
const expiredTokenRetention = 24 * time.Hour

// Prune deletes refresh tokens expired more than a day ago, login failure
// counters older than the throttle window (which no longer count) and
// remembered login clients older than their exemption. Safe to run on
// every replica at once.
func (s *Service) Prune(ctx context.Context) (Pruned, error) {
	now := s.now()
	n, err := s.store.Prune(ctx, PruneBefore{
		TokensExpired: now.Add(-expiredTokenRetention),
		Failures:      now.Add(-s.throttle.Window()),
		KnownClients:  now.Add(-s.throttle.KnownClientTTL),
	})
	if err != nil {
		return Pruned{}, fmt.Errorf("prune: %w", err)
	}
	return n, nil
}

// requireAdmin checks the caller's stored flags, not only the token's adm
// claim: a demoted or disabled admin's unexpired token must not work.
func (s *Service) requireAdmin(ctx context.Context, callerID uuid.UUID) error {
	caller, err := s.store.UserByID(ctx, callerID)
	if errors.Is(err, ErrNotFound) {
		return ErrForbidden
	}
	if err != nil {
		return fmt.Errorf("check admin: %w", err)
	}
	if !caller.IsActive || !caller.IsAdmin {
		return ErrForbidden
	}
	return nil
}

// newRefreshToken returns a new opaque token and its stored form in family
// (UserID is filled in by the caller): it lives REFRESH_TOKEN_TTL
// from now, but never past loginEnd when the login has one.
// loginEnd is when a login asked to last ttl ends: never later than a
// refresh token would; nil when no lifetime was asked for.
func (s *Service) loginEnd(ttl time.Duration, now time.Time) *time.Time {
	if ttl <= 0 {
		return nil
	}
	end := now.Add(min(ttl, s.refreshTTL))
	return &end
}

func (s *Service) newRefreshToken(family uuid.UUID, loginEnd *time.Time, now time.Time) (string, RefreshToken) {
	tok := randomToken()
	exp := now.Add(s.refreshTTL)
	if loginEnd != nil && loginEnd.Before(exp) {
		exp = *loginEnd
	}
	return tok, RefreshToken{Hash: HashToken(tok), FamilyID: family, ExpiresAt: exp, LoginExpiresAt: loginEnd}
}

// session is u's new token pair in the login family.
func (s *Service) session(u User, family uuid.UUID, refresh string, now time.Time) (Session, error) {
	access, err := s.signer.Sign(u, family, now)
	if err != nil {
		return Session{}, err
	}
	return Session{User: u, Tokens: Tokens{Access: access, Refresh: refresh, ExpiresIn: s.signer.TTL()}}, nil
}

// pageRequest reads a list call's limit and cursor (platform/paging's
// default, maximum and cursor format); the store is asked for one row more.
func pageRequest(limit int, cursor string) (int, paging.Cursor, error) {
	n, err := paging.Limit(limit)
	if err != nil {
		return 0, paging.Cursor{}, err
	}
	after, err := paging.ParseCursor(cursor)
	return n, after, err
}
