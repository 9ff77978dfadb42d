package identity

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// MaxReasonLength bounds the reason an admin gives for a change.
const MaxReasonLength = 1000

// KeyRetirementGrace is how long past the access-token TTL a retired key
// stays published: tokens signed just before retirement, plus clock skew.
const KeyRetirementGrace = time.Minute

// Config wires a Service.
type Config struct {
	Store      Store
	Hasher     *Hasher
	Signer     *Signer
	RefreshTTL time.Duration
	Throttle   LoginThrottle
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
	now        func() time.Time
}

// NewService returns a Service for c.
func NewService(c Config) *Service {
	now := c.Now
	if now == nil {
		now = time.Now
	}
	return &Service{store: c.Store, hasher: c.Hasher, signer: c.Signer, refreshTTL: c.RefreshTTL, throttle: c.Throttle, now: now}
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

// SignUp creates an active, non-admin user and starts its first login family.
func (s *Service) SignUp(ctx context.Context, email, password string) (Session, error) {
	email = NormalizeEmail(email)
	if err := ValidateCredentials(email, password); err != nil {
		return Session{}, err
	}
	hash, err := s.hasher.Hash(password)
	if err != nil {
		return Session{}, err
	}
	now := s.now()
	refresh, rec := s.newRefreshToken(uuid.NewString(), now)
	u, err := s.store.CreateUser(ctx, NewUser{ID: uuid.NewString(), Email: email, PasswordHash: hash}, &rec, nil, now)
	if err != nil {
		return Session{}, fmt.Errorf("sign up: %w", err)
	}
	return s.session(u, refresh, now)
}

// Login checks a password and starts a login family. Unknown email, wrong
// password and disabled account are all ErrInvalidCredentials, each after
// one argon2id computation; too many recent failures are a *ThrottledError.
func (s *Service) Login(ctx context.Context, email, password string) (Session, error) {
	if len(NormalizeEmail(email)) > MaxEmailLen {
		// Not a possible account: skip the counter rather than store
		// attacker-sized keys, but spend the same time.
		s.hasher.Check(password, "")
		return Session{}, ErrInvalidCredentials
	}
	key := emailKey(email)
	// The attempt is counted as a failure before the password is checked
	// and the counter reset on success: parallel guesses then queue on the
	// counter's row lock instead of all passing one check.
	wait, err := s.store.ClaimLoginAttempt(ctx, key, func(prev LoginFailures) (LoginFailures, time.Duration) {
		now := s.now()
		if w := s.throttle.Wait(prev, now); w > 0 {
			return prev, w
		}
		return s.throttle.next(prev, now), 0
	})
	if err != nil {
		return Session{}, fmt.Errorf("login: %w", err)
	}
	if wait > 0 {
		return Session{}, &ThrottledError{RetryAfter: wait}
	}

	acc, err := s.store.AccountByEmail(ctx, NormalizeEmail(email))
	switch {
	case errors.Is(err, ErrNotFound):
		s.hasher.Check(password, "") // same cost as a real check
		return Session{}, ErrInvalidCredentials
	case err != nil:
		return Session{}, fmt.Errorf("login: %w", err)
	}
	if !s.hasher.Check(password, acc.PasswordHash) || !acc.IsActive {
		return Session{}, ErrInvalidCredentials
	}
	if err := s.store.ResetLoginFailures(ctx, key); err != nil {
		return Session{}, fmt.Errorf("login: %w", err)
	}
	now := s.now()
	refresh, rec := s.newRefreshToken(uuid.NewString(), now)
	rec.UserID = acc.ID
	if err := s.store.InsertRefreshToken(ctx, rec, now); err != nil {
		return Session{}, fmt.Errorf("login: %w", err)
	}
	return s.session(acc.User, refresh, now)
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
	refresh, next := s.newRefreshToken("", now)
	u, err := s.store.RotateRefreshToken(ctx, oldHash, next, now, func(u User) error {
		if !u.IsActive {
			return ErrInvalidToken
		}
		return nil
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
	sess, err := s.session(u, refresh, now)
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

// GetUser returns the caller (id empty or the caller's) or, for an admin,
// any user. Other users are ErrNotFound to non-admins: existence is not
// revealed. A disabled or deleted caller is ErrUnauthorized.
func (s *Service) GetUser(ctx context.Context, callerID, id string) (User, error) {
	caller, err := s.store.UserByID(ctx, callerID)
	if errors.Is(err, ErrNotFound) || (err == nil && !caller.IsActive) {
		return User{}, ErrUnauthorized
	}
	if err != nil {
		return User{}, fmt.Errorf("get user: %w", err)
	}
	if id == "" || id == callerID {
		return caller, nil
	}
	if !caller.IsAdmin || !isUUID(id) {
		return User{}, ErrNotFound
	}
	u, err := s.store.UserByID(ctx, id)
	if err != nil {
		return User{}, fmt.Errorf("get user: %w", err)
	}
	return u, nil
}

// ListUsers returns a page of users matching query, newest first. Admin.
func (s *Service) ListUsers(ctx context.Context, callerID, query string, limit int, cursor string) (Page[User], error) {
	if err := s.requireAdmin(ctx, callerID); err != nil {
		return Page[User]{}, err
	}
	n, err := pageLimit(limit)
	if err != nil {
		return Page[User]{}, err
	}
	after, err := decodeCursor(cursor)
	if err != nil {
		return Page[User]{}, err
	}
	users, err := s.store.ListUsers(ctx, UserQuery{Query: query, Limit: n + 1, After: after})
	if err != nil {
		return Page[User]{}, fmt.Errorf("list users: %w", err)
	}
	return paginate(users, n, func(u User) Cursor { return Cursor{CreatedAt: u.CreatedAt, ID: u.ID} }), nil
}

// UpdateUser changes a user's is_active / is_admin flags. Admin. Admins
// cannot disable or demote themselves (ErrSelfChange), so the last admin
// cannot lock everyone out by mistake.
func (s *Service) UpdateUser(ctx context.Context, callerID string, ch UserChange) (User, error) {
	if err := s.requireAdmin(ctx, callerID); err != nil {
		return User{}, err
	}
	if utf8.RuneCountInString(ch.Reason) > MaxReasonLength {
		return User{}, invalid("reason", "must be at most 1000 characters")
	}
	if !isUUID(ch.ID) {
		return User{}, ErrNotFound
	}
	if ch.ID == callerID && ((ch.IsActive != nil && !*ch.IsActive) || (ch.IsAdmin != nil && !*ch.IsAdmin)) {
		return User{}, ErrSelfChange
	}
	ch.ActorID = callerID
	u, err := s.store.UpdateUser(ctx, ch, s.now())
	if err != nil {
		return User{}, fmt.Errorf("update user: %w", err)
	}
	return u, nil
}

// ListAuditEvents returns a page of audit events, newest first. Admin.
func (s *Service) ListAuditEvents(ctx context.Context, callerID, targetID string, limit int, cursor string) (Page[AuditEvent], error) {
	if err := s.requireAdmin(ctx, callerID); err != nil {
		return Page[AuditEvent]{}, err
	}
	n, err := pageLimit(limit)
	if err != nil {
		return Page[AuditEvent]{}, err
	}
	after, err := decodeCursor(cursor)
	if err != nil {
		return Page[AuditEvent]{}, err
	}
	events, err := s.store.ListAuditEvents(ctx, AuditQuery{TargetID: targetID, Limit: n + 1, After: after})
	if err != nil {
		return Page[AuditEvent]{}, fmt.Errorf("list audit events: %w", err)
	}
	return paginate(events, n, func(e AuditEvent) Cursor { return Cursor{CreatedAt: e.CreatedAt, ID: e.ID} }), nil
}

// UserStats counts users for the admin overview. Admin. "Today" starts at
// 00:00 UTC, like the wallet's money totals, so the overview's numbers share
// one calendar.
func (s *Service) UserStats(ctx context.Context, callerID string) (UserStats, error) {
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

// CreateAdmin makes email an admin from the command line: an existing user
// (any letter case) is promoted and keeps its password; otherwise a new
// active admin is created with password. Both write an audit event with
// actor "cli". created reports which happened.
func (s *Service) CreateAdmin(ctx context.Context, email, password string) (u User, created bool, err error) {
	email = NormalizeEmail(email)
	if msg := emailProblem(email); msg != "" {
		return User{}, false, invalid("email", msg)
	}
	for range 2 { // a second round only if the user appeared in between
		acc, err := s.store.AccountByEmail(ctx, email)
		if err == nil {
			u, err := s.store.UpdateUser(ctx, UserChange{ID: acc.ID, IsAdmin: new(true), ActorID: ActorCLI, Reason: "identity create-admin"}, s.now())
			return u, false, err
		}
		if !errors.Is(err, ErrNotFound) {
			return User{}, false, err
		}
		if err := ValidateCredentials(email, password); err != nil {
			return User{}, false, err
		}
		hash, err := s.hasher.Hash(password)
		if err != nil {
			return User{}, false, err
		}
		now := s.now()
		nu := NewUser{ID: uuid.NewString(), Email: email, PasswordHash: hash, IsAdmin: true}
		ev := auditCreateAdmin(User{ID: nu.ID, Email: email}, now)
		u, err = s.store.CreateUser(ctx, nu, nil, &ev, now)
		if errors.Is(err, ErrEmailTaken) {
			continue
		}
		return u, err == nil, err
	}
	return User{}, false, ErrEmailTaken
}

// ActivateSigningKey registers the signer's key as the active one and
// retires the others; called once at start.
func (s *Service) ActivateSigningKey(ctx context.Context) error {
	if err := s.store.ActivateSigningKey(ctx, s.signer.KeyID(), s.signer.PublicKey(), s.now()); err != nil {
		return fmt.Errorf("activate signing key: %w", err)
	}
	return nil
}

// SigningKeys returns the keys whose tokens may still be valid: the active
// key and keys retired less than the access-token TTL plus
// KeyRetirementGrace ago.
func (s *Service) SigningKeys(ctx context.Context) ([]SigningKey, error) {
	keys, err := s.store.PublishedSigningKeys(ctx, s.now().Add(-s.signer.TTL()-KeyRetirementGrace))
	if err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}
	return keys, nil
}

// expiredTokenRetention keeps expired refresh tokens a day, so that a
// rotated token replayed just after expiry still revokes its family.
const expiredTokenRetention = 24 * time.Hour

// Prune deletes refresh tokens expired more than a day ago and login
// failure counters older than the throttle window (which no longer count).
// Safe to run on every replica at once.
func (s *Service) Prune(ctx context.Context) (tokens, failures int64, err error) {
	now := s.now()
	tokens, failures, err = s.store.Prune(ctx, now.Add(-expiredTokenRetention), now.Add(-s.throttle.Window))
	if err != nil {
		return 0, 0, fmt.Errorf("prune: %w", err)
	}
	return tokens, failures, nil
}

// requireAdmin checks the caller's stored flags, not only the token's adm
// claim: a demoted or disabled admin's unexpired token must not work.
func (s *Service) requireAdmin(ctx context.Context, callerID string) error {
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
// (UserID and, when family is "", FamilyID are filled in by the caller or store).
func (s *Service) newRefreshToken(family string, now time.Time) (string, RefreshToken) {
	tok := randomToken()
	return tok, RefreshToken{Hash: HashToken(tok), FamilyID: family, ExpiresAt: now.Add(s.refreshTTL)}
}

func (s *Service) session(u User, refresh string, now time.Time) (Session, error) {
	access, err := s.signer.Sign(u, now)
	if err != nil {
		return Session{}, err
	}
	return Session{User: u, Tokens: Tokens{Access: access, Refresh: refresh, ExpiresIn: s.signer.TTL()}}, nil
}

func paginate[T any](rows []T, limit int, key func(T) Cursor) Page[T] {
	if len(rows) <= limit {
		return Page[T]{Items: rows}
	}
	rows = rows[:limit]
	return Page[T]{Items: rows, NextCursor: encodeCursor(key(rows[limit-1]))}
}
