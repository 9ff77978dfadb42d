package identity

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/meterflow/meterflow/platform/validation"
)

// LoginRequest is one login attempt.
type LoginRequest struct {
	Email    string
	Password string
	// ClientIP is the end user's address as the gateway saw it; "" when
	// unknown. The throttle is keyed on it (IPv6 on its /64).
	ClientIP string
	// RefreshTTL, when positive, ends the login's refresh tokens this long
	// after the login whatever their rotations (capped by the service's
	// refresh TTL); 0 keeps the sliding refresh TTL.
	RefreshTTL time.Duration
}

// Login checks a password and starts a login family. Unknown email, wrong
// password and disabled account are all ErrInvalidCredentials, each after
// one argon2id computation; too many recent failures are a *ThrottledError
// (see LoginThrottle); no free hashing slot in time is ErrBusy.
func (s *Service) Login(ctx context.Context, req LoginRequest) (Session, error) {
	client, err := clientKey(req.ClientIP)
	if err != nil {
		return Session{}, err
	}
	if req.RefreshTTL < 0 {
		return Session{}, validation.Field("refresh_ttl", "must be positive")
	}
	// The slot is taken before the attempt is counted: a login refused for
	// want of a slot must not count as a failure against the owner.
	release, err := s.hasher.Acquire(ctx)
	if err != nil {
		return Session{}, fmt.Errorf("login: %w", err)
	}
	defer release()
	email := NormalizeEmail(req.Email)
	if len(email) > MaxEmailLen {
		// Not a possible account: skip the counters rather than store
		// attacker-sized keys, but spend the same time.
		s.hasher.check(req.Password, "")
		return Session{}, ErrInvalidCredentials
	}
	key := LoginKey{Account: emailKey(email), Client: client}
	// The attempt is counted as a failure before the password is checked
	// and the client's counter reset on success: parallel guesses then
	// queue on the counters' row locks instead of all passing one check.
	wait, err := s.store.ClaimLoginAttempt(ctx, key, func(st LoginState) (LoginState, time.Duration) {
		return s.throttle.Decide(st, s.now())
	})
	if err != nil {
		return Session{}, fmt.Errorf("login: %w", err)
	}
	if wait > 0 {
		return Session{}, &ThrottledError{RetryAfter: wait}
	}

	acc, err := s.store.AccountByEmail(ctx, email)
	switch {
	case errors.Is(err, ErrNotFound):
		s.hasher.check(req.Password, "") // same cost as a real check
		return Session{}, ErrInvalidCredentials
	case err != nil:
		return Session{}, fmt.Errorf("login: %w", err)
	}
	if !s.hasher.check(req.Password, acc.PasswordHash) || !acc.IsActive {
		return Session{}, ErrInvalidCredentials
	}
	release() // the rest needs no slot (the deferred call is then a no-op)
	now := s.now()
	// An unknown address is never remembered: it would exempt every other
	// caller without an address from the account's ceiling.
	if err := s.store.RecordLoginSuccess(ctx, key, key.Client != "", now); err != nil {
		return Session{}, fmt.Errorf("login: %w", err)
	}
	refresh, rec := s.newRefreshToken(uuid.New(), s.loginEnd(req.RefreshTTL, now), now)
	rec.UserID = acc.ID
	if err := s.store.InsertRefreshToken(ctx, rec, now); err != nil {
		return Session{}, fmt.Errorf("login: %w", err)
	}
	return s.session(acc.User, rec.FamilyID, refresh, now)
}
