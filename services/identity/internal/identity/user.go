package identity

import (
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/meterflow/meterflow/platform/validation"
)

// Limits of the credentials accepted at sign-up.
const (
	MaxEmailLen       = 254
	MinPasswordLength = 8
	MaxPasswordLength = 128
)

// User is an account.
type User struct {
	ID       uuid.UUID
	Email    string
	IsAdmin  bool
	IsActive bool
	// EmailVerifiedAt is when the user proved they own the email; nil
	// until then.
	EmailVerifiedAt *time.Time
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// EmailVerified reports whether the email has been verified.
func (u User) EmailVerified() bool { return u.EmailVerifiedAt != nil }

// Account is a user with its password hash, as the store returns it for login.
type Account struct {
	User
	PasswordHash string
}

// NewUser is a user about to be stored.
type NewUser struct {
	ID              uuid.UUID
	Email           string
	PasswordHash    string
	IsAdmin         bool
	IsActive        bool
	EmailVerifiedAt *time.Time
}

// NormalizeEmail trims the address as it will be stored.
func NormalizeEmail(email string) string {
	return strings.TrimSpace(email)
}

// emailKey is the case-insensitive identity of an address (throttling key).
func emailKey(email string) string {
	return strings.ToLower(NormalizeEmail(email))
}

// ValidateCredentials checks a sign-up's email and password and reports
// every invalid field. email must already be normalized.
func ValidateCredentials(email, password string) error {
	var v validation.Error
	if msg := emailProblem(email); msg != "" {
		v.Add("email", msg)
	}
	if msg := passwordProblem(password); msg != "" {
		v.Add("password", msg)
	}
	return v.Err()
}

func emailProblem(email string) string {
	if email == "" {
		return "is required"
	}
	if len(email) > MaxEmailLen {
		return "must be at most 254 characters"
	}
	// One bare address: no display name, no angle brackets, no comments,
	// which ParseAddress would otherwise accept and strip.
	addr, err := mail.ParseAddress(email)
	if err != nil || addr.Name != "" || addr.Address != email {
		return "must be a valid email address"
	}
	return ""
}

func passwordProblem(password string) string {
	if !utf8.ValidString(password) {
		return "must be valid UTF-8"
	}
	n := utf8.RuneCountInString(password)
	if n < MinPasswordLength || n > MaxPasswordLength {
		return "must be 8 to 128 characters long"
	}
	return ""
}
