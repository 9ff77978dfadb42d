package identity

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
)

// CreateAdmin makes email an admin from the command line, with password
// (validated as at sign-up). A new account is created active, admin and
// with its email verified (the operator vouches for it). An email that
// already has an account (in any letter case) is ErrEmailTaken and nothing
// changes, unless promoteExisting: then, in one transaction, the account
// becomes admin, its password is replaced with password, its email is
// marked verified and every refresh token of it is revoked, so whoever
// signed up with that email first keeps no access. Every change writes
// audit events with actor "cli". created reports which happened.
func (s *Service) CreateAdmin(ctx context.Context, email, password string, promoteExisting bool) (u User, created bool, err error) {
	email = NormalizeEmail(email)
	if err := ValidateCredentials(email, password); err != nil {
		return User{}, false, err
	}
	hash, err := s.hasher.Hash(ctx, password)
	if err != nil {
		return User{}, false, err
	}
	for range 2 { // a second round only if the user appeared in between
		acc, err := s.store.AccountByEmail(ctx, email)
		if err == nil {
			if !promoteExisting {
				return User{}, false, ErrEmailTaken
			}
			now := s.now()
			u, err := s.store.UpdateUser(ctx, acc.ID, now, func(before User) (*UserUpdate, error) {
				return promoteExistingUser(before, hash, now)
			})
			if err != nil {
				return User{}, false, fmt.Errorf("promote %s: %w", acc.ID, err)
			}
			return u, false, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return User{}, false, err
		}
		now := s.now()
		nu := NewUser{ID: uuid.New(), Email: email, PasswordHash: hash, IsAdmin: true, IsActive: true, EmailVerifiedAt: &now}
		ev := auditCreateAdmin(User{ID: nu.ID, Email: email}, now)
		u, err = s.store.CreateUser(ctx, nu, UserWrites{Audit: &ev}, now)
		if errors.Is(err, ErrEmailTaken) {
			continue
		}
		return u, err == nil, err
	}
	return User{}, false, ErrEmailTaken
}
