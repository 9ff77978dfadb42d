package identity

import (
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Purpose is what an emailed link's token is for.
type Purpose string

// The purposes of account tokens (account_tokens.purpose).
const (
	PurposeVerifyEmail   Purpose = "verify_email"
	PurposePasswordReset Purpose = "password_reset"
)

// Lifetimes of the emailed links (shared/spec/api.md, "Account lifecycle
// and email").
const (
	VerifyEmailTTL   = 48 * time.Hour
	PasswordResetTTL = 30 * time.Minute
)

// Paths of the pages the links open on PUBLIC_BASE_URL; the gateway
// serves them.
const (
	VerifyEmailPath   = "/app/verify-email"
	ResetPasswordPath = "/app/reset-password"
)

// Templates of notify (proto/meterflow/notify/v1) that identity sends.
const (
	TemplateVerifyEmail     = "verify_email"
	TemplatePasswordReset   = "password_reset"
	TemplatePasswordChanged = "password_changed"
)

// AccountToken is a stored link token: only its SHA-256 is kept.
type AccountToken struct {
	Hash      []byte
	Purpose   Purpose
	UserID    uuid.UUID
	ExpiresAt time.Time
}

// Email is an email to a user, handed to notify through the outbox in the
// transaction that causes it. Data may hold a link with a token: it is
// never logged.
type Email struct {
	UserID   uuid.UUID
	Template string
	Data     map[string]string
}

// Links builds the links of the emails from PUBLIC_BASE_URL.
type Links struct {
	// BaseURL is PUBLIC_BASE_URL, e.g. https://meterflow.example.com.
	BaseURL string
}

// url returns BaseURL + path + ?token=token.
func (l Links) url(path, token string) string {
	return strings.TrimRight(l.BaseURL, "/") + path + "?token=" + url.QueryEscape(token)
}

// newLink makes a token of purpose for user u, stored as AccountToken,
// and the email that carries its link. The token is 256 random bits
// (randomToken), base64url.
func (s *Service) newLink(u User, purpose Purpose, now time.Time) (AccountToken, Email) {
	tok := randomToken()
	t := AccountToken{Hash: HashToken(tok), Purpose: purpose, UserID: u.ID}
	e := Email{UserID: u.ID}
	switch purpose {
	case PurposeVerifyEmail:
		t.ExpiresAt = now.Add(VerifyEmailTTL)
		e.Template = TemplateVerifyEmail
		e.Data = map[string]string{"link": s.links.url(VerifyEmailPath, tok), "expires_in": "48 hours", "email": u.Email}
	case PurposePasswordReset:
		t.ExpiresAt = now.Add(PasswordResetTTL)
		e.Template = TemplatePasswordReset
		e.Data = map[string]string{"link": s.links.url(ResetPasswordPath, tok), "expires_in": "30 minutes", "email": u.Email}
	}
	return t, e
}

// passwordChangedEmail tells u that their password was changed at now
// (by them, or by a reset link), so that an owner who did not do it
// notices.
func passwordChangedEmail(u User, now time.Time) Email {
	return Email{UserID: u.ID, Template: TemplatePasswordChanged, Data: map[string]string{
		"email": u.Email, "changed_at": now.UTC().Format(time.RFC3339),
	}}
}
