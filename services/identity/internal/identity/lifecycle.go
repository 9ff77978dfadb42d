package identity

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/meterflow/meterflow/platform/validation"
)

// The account lifecycle (shared/spec/api.md, "Account lifecycle and
// email"): links emailed with single-use tokens to verify the email and to
// reset a forgotten password, password changes, and logging out
// everywhere. Every email goes out through the store's outbox in the
// transaction of the change that causes it; every token is stored hashed.

// VerifyEmail marks the email of the link's user verified. An unknown,
// used or expired link is ErrInvalidLink; using it ends every other
// verification link of the user.
func (s *Service) VerifyEmail(ctx context.Context, token string) error {
	if token == "" {
		return ErrInvalidLink
	}
	now := s.now()
	_, err := s.store.UseAccountToken(ctx, HashToken(token), PurposeVerifyEmail, now, func(before User) (*UserUpdate, error) {
		up := &UserUpdate{After: before, EndLinks: []Purpose{PurposeVerifyEmail}}
		if up.After.EmailVerifiedAt == nil {
			up.After.EmailVerifiedAt = &now
		}
		return up, nil
	})
	if err != nil {
		return fmt.Errorf("verify email: %w", err)
	}
	return nil
}

// ResendVerification emails the caller a new verification link; older
// ones stop working. A verified email is ErrAlreadyVerified; a disabled
// or deleted caller ErrUnauthorized.
func (s *Service) ResendVerification(ctx context.Context, callerID uuid.UUID) error {
	now := s.now()
	_, err := s.store.UpdateUser(ctx, callerID, now, func(before User) (*UserUpdate, error) {
		if !before.IsActive {
			return nil, ErrUnauthorized
		}
		if before.EmailVerified() {
			return nil, ErrAlreadyVerified
		}
		link, email := s.newLink(before, PurposeVerifyEmail, now)
		return &UserUpdate{After: before, Link: &link, Emails: []Email{email}}, nil
	})
	if errors.Is(err, ErrNotFound) {
		return ErrUnauthorized
	}
	if err != nil {
		return fmt.Errorf("resend verification: %w", err)
	}
	return nil
}

// RequestPasswordReset queues a password reset for email. It does the same
// work whether or not the email has an account, and whatever the
// account's state: one job inserted and committed (OWASP's Forgot Password
// rules: the same answer in about the same time). The job
// (SendPasswordReset) then emails a link to an active account, and
// nothing to anyone else. Only a malformed address is an error.
func (s *Service) RequestPasswordReset(ctx context.Context, email string) error {
	email = NormalizeEmail(email)
	if msg := emailProblem(email); msg != "" {
		return validation.Field("email", msg)
	}
	if err := s.store.EnqueuePasswordReset(ctx, email); err != nil {
		return fmt.Errorf("request password reset: %w", err)
	}
	return nil
}

// SendPasswordReset is the queued half of RequestPasswordReset: when email
// belongs to an active account, it makes a reset link (ending the
// account's older ones) and emails it, in one transaction. An unknown
// email or a disabled account gets nothing.
func (s *Service) SendPasswordReset(ctx context.Context, email string) error {
	acc, err := s.store.AccountByEmail(ctx, email)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("send password reset: %w", err)
	}
	now := s.now()
	_, err = s.store.UpdateUser(ctx, acc.ID, now, func(before User) (*UserUpdate, error) {
		if !before.IsActive {
			return nil, nil
		}
		link, mail := s.newLink(before, PurposePasswordReset, now)
		return &UserUpdate{After: before, Link: &link, Emails: []Email{mail}}, nil
	})
	if err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("send password reset: %w", err)
	}
	return nil
}

// ConfirmPasswordReset sets the password of the reset link's user: in one
// transaction the password changes, every refresh token of the user is
// revoked, every live link of the user ends, the email is marked verified
// (the link proved it) and a "password changed" email is queued. An
// unknown, used or expired link, and one of a disabled account, are
// ErrInvalidLink; a password outside the sign-up rules is a validation
// error and does not use the link.
func (s *Service) ConfirmPasswordReset(ctx context.Context, token, password string) error {
	if msg := passwordProblem(password); msg != "" {
		return validation.Field("password", msg)
	}
	if token == "" {
		return ErrInvalidLink
	}
	hash, err := s.hasher.Hash(ctx, password)
	if err != nil {
		return fmt.Errorf("confirm password reset: %w", err)
	}
	now := s.now()
	_, err = s.store.UseAccountToken(ctx, HashToken(token), PurposePasswordReset, now, func(before User) (*UserUpdate, error) {
		if !before.IsActive {
			return nil, ErrInvalidLink
		}
		after := before
		if after.EmailVerifiedAt == nil {
			after.EmailVerifiedAt = &now
		}
		return &UserUpdate{
			After: after, PasswordHash: hash, RevokeTokens: true,
			EndLinks: []Purpose{PurposePasswordReset, PurposeVerifyEmail},
			Emails:   []Email{passwordChangedEmail(after, now)},
		}, nil
	})
	if err != nil {
		return fmt.Errorf("confirm password reset: %w", err)
	}
	return nil
}

// PasswordChange is a signed-in user's change of their own password.
type PasswordChange struct {
	UserID uuid.UUID
	// SessionID is the caller's login family (the access token's sid): it
	// survives; every other login ends. uuid.Nil ends every login.
	SessionID       uuid.UUID
	CurrentPassword string
	NewPassword     string
	// ClientIP is the end user's address, for the login throttle.
	ClientIP string
}

// ChangePassword replaces the caller's password after checking the
// current one. A wrong current password is ErrInvalidCredentials and is
// counted by the login throttle like a failed login, so a stolen access
// token cannot guess its way to the password. On success, in one
// transaction: the new password, every refresh token of the user but the
// caller's login family revoked, live reset links ended, and a "password
// changed" email queued.
func (s *Service) ChangePassword(ctx context.Context, ch PasswordChange) error {
	if msg := passwordProblem(ch.NewPassword); msg != "" {
		return validation.Field("new_password", msg)
	}
	client, err := clientKey(ch.ClientIP)
	if err != nil {
		return err
	}
	acc, err := s.store.AccountByID(ctx, ch.UserID)
	if errors.Is(err, ErrNotFound) || (err == nil && !acc.IsActive) {
		return ErrUnauthorized
	}
	if err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	release, err := s.hasher.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	defer release()
	key := LoginKey{Account: emailKey(acc.Email), Client: client}
	wait, err := s.store.ClaimLoginAttempt(ctx, key, func(st LoginState) (LoginState, time.Duration) {
		return s.throttle.Decide(st, s.now())
	})
	if err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	if wait > 0 {
		return &ThrottledError{RetryAfter: wait}
	}
	if !s.hasher.check(ch.CurrentPassword, acc.PasswordHash) {
		return ErrInvalidCredentials
	}
	hash, err := s.hasher.hash(ch.NewPassword)
	if err != nil {
		return err
	}
	release()
	now := s.now()
	if err := s.store.RecordLoginSuccess(ctx, key, false, now); err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	_, err = s.store.UpdateUser(ctx, ch.UserID, now, func(before User) (*UserUpdate, error) {
		if !before.IsActive {
			return nil, ErrUnauthorized
		}
		return &UserUpdate{
			After: before, PasswordHash: hash, RevokeTokens: true, KeepFamily: ch.SessionID,
			EndLinks: []Purpose{PurposePasswordReset},
			Emails:   []Email{passwordChangedEmail(before, now)},
		}, nil
	})
	if err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	return nil
}

// LogoutAll revokes every refresh token of the caller: every login ends
// at its next refresh (access tokens live out their minutes).
func (s *Service) LogoutAll(ctx context.Context, callerID uuid.UUID) error {
	_, err := s.store.UpdateUser(ctx, callerID, s.now(), func(before User) (*UserUpdate, error) {
		return &UserUpdate{After: before, RevokeTokens: true}, nil
	})
	if errors.Is(err, ErrNotFound) {
		return ErrUnauthorized
	}
	if err != nil {
		return fmt.Errorf("logout all: %w", err)
	}
	return nil
}
