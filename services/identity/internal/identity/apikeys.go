package identity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/meterflow/meterflow/platform/apikey"
	"github.com/meterflow/meterflow/platform/paging"
	"github.com/meterflow/meterflow/platform/validation"
)

// Rules of API keys (shared/spec/api.md, "API keys").
const (
	// MaxActiveAPIKeys is how many active (unrevoked, unexpired) keys a
	// user may hold; creating one more is ErrLimitReached.
	MaxActiveAPIKeys = 25
	// MaxAPIKeyNameLength bounds a key's name, in characters.
	MaxAPIKeyNameLength = 100
	// APIKeyTokenTTL is the lifetime of the access token AuthenticateAPIKey
	// returns. The gateway reuses it for a few seconds (its cache) and the
	// services verify it when a call arrives, so a minute covers both with
	// room for clock skew; a revoked key gets no new one.
	APIKeyTokenTTL = time.Minute
	// APIKeyUseInterval is how stale last_used_at may get: a use is written
	// only when the recorded one is older (the spec allows a minute of lag).
	APIKeyUseInterval = time.Minute
)

// APIKey is a machine client's key. The secret is never stored: only its
// SHA-256 (SecretHash) and its first 12 characters (Prefix).
type APIKey struct {
	ID         uuid.UUID
	UserID     uuid.UUID
	Name       string
	Prefix     string
	SecretHash []byte
	Scopes     []string
	// ExpiresAt is nil for a key that does not expire.
	ExpiresAt *time.Time
	// MonthlySpendLimitCents is nil for a key without a limit.
	MonthlySpendLimitCents *int64
	LastUsedAt             *time.Time
	RevokedAt              *time.Time
	CreatedAt              time.Time
}

// Active reports whether the key authenticates at now: not revoked and
// not expired.
func (k APIKey) Active(now time.Time) bool {
	return k.RevokedAt == nil && (k.ExpiresAt == nil || now.Before(*k.ExpiresAt))
}

// NewAPIKey is a user's request for a key.
type NewAPIKey struct {
	Name                   string
	Scopes                 []string
	ExpiresAt              *time.Time
	MonthlySpendLimitCents *int64
}

// validate reports every invalid field of r at now.
func (r NewAPIKey) validate(now time.Time) error {
	var v validation.Error
	switch n := utf8.RuneCountInString(r.Name); {
	case !utf8.ValidString(r.Name):
		v.Add("name", "must be valid UTF-8")
	case strings.TrimSpace(r.Name) == "":
		v.Add("name", "is required")
	case n > MaxAPIKeyNameLength:
		v.Add("name", "must be 1 to 100 characters long")
	case strings.IndexFunc(r.Name, unicode.IsControl) >= 0:
		v.Add("name", "must not contain control characters")
	}
	switch {
	case len(r.Scopes) == 0:
		v.Add("scopes", "must name at least one scope")
	default:
		for _, s := range r.Scopes {
			if !apikey.ValidScope(s) {
				v.Add("scopes", fmt.Sprintf("unknown scope %q; scopes are %s", truncate(s, 40), strings.Join(apikey.Scopes(), ", ")))
				break
			}
		}
		if sorted := slices.Sorted(slices.Values(r.Scopes)); len(slices.Compact(sorted)) != len(r.Scopes) {
			v.Add("scopes", "must be distinct")
		}
	}
	if r.ExpiresAt != nil && !r.ExpiresAt.After(now) {
		v.Add("expires_at", "must be in the future")
	}
	if r.MonthlySpendLimitCents != nil && *r.MonthlySpendLimitCents < 0 {
		v.Add("monthly_spend_limit_cents", "must be at least 0")
	}
	return v.Err()
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}

// APIKeyStore persists API keys; part of Store.
type APIKeyStore interface {
	// CreateAPIKey locks the user userID (ErrNotFound when gone), counts
	// its active keys at now, asks decide for the key to store and its
	// audit event, and writes both; one transaction.
	CreateAPIKey(ctx context.Context, userID uuid.UUID, now time.Time, decide func(owner User, active int) (APIKey, AuditEvent, error)) (APIKey, error)
	// ListAPIKeys returns a page of the user's keys, newest first.
	ListAPIKeys(ctx context.Context, userID uuid.UUID, limit int, after paging.Cursor) ([]APIKey, error)
	// RevokeAPIKey locks the key id (ErrNotFound when none), asks decide,
	// and writes the revocation it returns; nil changes nothing. One
	// transaction.
	RevokeAPIKey(ctx context.Context, id uuid.UUID, decide func(APIKey) (*APIKeyRevocation, error)) (APIKey, error)
	// APIKeyByHash returns the key whose secret hashes to hash, and its
	// user; ErrNotFound when none.
	APIKeyByHash(ctx context.Context, hash []byte) (APIKey, User, error)
	// TouchAPIKey sets the key's last use to now unless it is after before.
	TouchAPIKey(ctx context.Context, id uuid.UUID, now, before time.Time) error
}

// APIKeyRevocation is a decided revocation: when, and its audit event.
type APIKeyRevocation struct {
	At    time.Time
	Audit AuditEvent
}

// CreateAPIKey makes a key for the caller and returns it with its secret,
// which exists nowhere else afterwards. A disabled caller is
// ErrUnauthorized; a caller holding MaxActiveAPIKeys active keys is
// ErrLimitReached. The audit log records the creation.
func (s *Service) CreateAPIKey(ctx context.Context, callerID uuid.UUID, r NewAPIKey) (APIKey, string, error) {
	now := s.now()
	if err := r.validate(now); err != nil {
		return APIKey{}, "", err
	}
	secret := apikey.New()
	k := APIKey{
		ID: uuid.New(), UserID: callerID, Name: r.Name, Prefix: apikey.DisplayPrefix(secret), SecretHash: apikey.Hash(secret),
		Scopes: slices.Clone(r.Scopes), ExpiresAt: utc(r.ExpiresAt), MonthlySpendLimitCents: r.MonthlySpendLimitCents, CreatedAt: now,
	}
	out, err := s.store.CreateAPIKey(ctx, callerID, now, func(owner User, active int) (APIKey, AuditEvent, error) {
		return decideNewAPIKey(k, owner, active)
	})
	if errors.Is(err, ErrNotFound) {
		return APIKey{}, "", ErrUnauthorized
	}
	if err != nil {
		return APIKey{}, "", fmt.Errorf("create api key: %w", err)
	}
	return out, secret, nil
}

// decideNewAPIKey rules on storing k for owner, who holds active keys.
func decideNewAPIKey(k APIKey, owner User, active int) (APIKey, AuditEvent, error) {
	if !owner.IsActive {
		return APIKey{}, AuditEvent{}, ErrUnauthorized
	}
	if active >= MaxActiveAPIKeys {
		return APIKey{}, AuditEvent{}, ErrLimitReached
	}
	after, _ := json.Marshal(map[string]any{
		"user_id": k.UserID, "name": k.Name, "prefix": k.Prefix, "scopes": k.Scopes,
		"expires_at": k.ExpiresAt, "monthly_spend_limit_cents": k.MonthlySpendLimitCents,
	})
	return k, AuditEvent{
		ActorID: k.UserID.String(), Action: "api_key.create", TargetType: "api_key", TargetID: k.ID.String(),
		After: after, CreatedAt: k.CreatedAt,
	}, nil
}

// ListAPIKeys returns a page of the caller's keys (active, expired and
// revoked), newest first.
func (s *Service) ListAPIKeys(ctx context.Context, callerID uuid.UUID, limit int, cursor string) (Page[APIKey], error) {
	n, after, err := pageRequest(limit, cursor)
	if err != nil {
		return Page[APIKey]{}, err
	}
	keys, err := s.store.ListAPIKeys(ctx, callerID, n+1, after)
	if err != nil {
		return Page[APIKey]{}, fmt.Errorf("list api keys: %w", err)
	}
	items, next := paging.Trim(keys, n, func(k APIKey) paging.Cursor { return paging.Cursor{CreatedAt: k.CreatedAt, ID: k.ID} })
	return Page[APIKey]{Items: items, NextCursor: next}, nil
}

// RevokeAPIKey revokes the caller's key id, once: revoking it again
// changes nothing and succeeds. Another user's key is ErrAPIKeyNotFound,
// as an unknown one. The audit log records the revocation.
func (s *Service) RevokeAPIKey(ctx context.Context, callerID, id uuid.UUID) (APIKey, error) {
	now := s.now()
	k, err := s.store.RevokeAPIKey(ctx, id, func(k APIKey) (*APIKeyRevocation, error) {
		return decideRevocation(k, callerID, now)
	})
	if errors.Is(err, ErrNotFound) {
		return APIKey{}, ErrAPIKeyNotFound
	}
	if err != nil {
		return APIKey{}, fmt.Errorf("revoke api key: %w", err)
	}
	return k, nil
}

// decideRevocation rules on caller revoking k at now.
func decideRevocation(k APIKey, caller uuid.UUID, now time.Time) (*APIKeyRevocation, error) {
	if k.UserID != caller {
		return nil, ErrAPIKeyNotFound
	}
	if k.RevokedAt != nil {
		return nil, nil
	}
	before, _ := json.Marshal(map[string]any{"revoked_at": nil})
	after, _ := json.Marshal(map[string]any{"revoked_at": now, "user_id": k.UserID, "prefix": k.Prefix})
	return &APIKeyRevocation{At: now, Audit: AuditEvent{
		ActorID: caller.String(), Action: "api_key.revoke", TargetType: "api_key", TargetID: k.ID.String(),
		Before: before, After: after, CreatedAt: now,
	}}, nil
}

// KeyAccess is what a presented key is worth for a short while: an access
// token for its user that carries the key's id, scopes and spend limit.
type KeyAccess struct {
	Token     string
	ExpiresAt time.Time
	UserID    uuid.UUID
	KeyID     uuid.UUID
	Scopes    []string
	// EmailVerified: the key's user has verified their email.
	EmailVerified bool
}

// AuthenticateAPIKey returns access for the key whose secret hashes to
// hash. An unknown, revoked or expired key, and a key of a disabled user,
// are all ErrInvalidAPIKey. The key's last use is recorded at most once
// per APIKeyUseInterval, so a busy key is not a write per call.
func (s *Service) AuthenticateAPIKey(ctx context.Context, hash []byte) (KeyAccess, error) {
	if len(hash) != 32 {
		return KeyAccess{}, ErrInvalidAPIKey
	}
	k, u, err := s.store.APIKeyByHash(ctx, hash)
	if errors.Is(err, ErrNotFound) {
		return KeyAccess{}, ErrInvalidAPIKey
	}
	if err != nil {
		return KeyAccess{}, fmt.Errorf("authenticate api key: %w", err)
	}
	now := s.now()
	if !k.Active(now) || !u.IsActive {
		return KeyAccess{}, ErrInvalidAPIKey
	}
	if k.LastUsedAt == nil || now.Sub(*k.LastUsedAt) >= APIKeyUseInterval {
		if err := s.store.TouchAPIKey(ctx, k.ID, now, now.Add(-APIKeyUseInterval)); err != nil {
			return KeyAccess{}, fmt.Errorf("record api key use: %w", err)
		}
	}
	tok, exp, err := s.signer.signAPIKey(k, u, now)
	if err != nil {
		return KeyAccess{}, err
	}
	return KeyAccess{Token: tok, ExpiresAt: exp, UserID: k.UserID, KeyID: k.ID, Scopes: k.Scopes, EmailVerified: u.EmailVerified()}, nil
}

// signAPIKey issues the access token of a call made with k: k's user,
// never admin (keys reach no admin method), k's id, scopes and spend
// limit, whether u's email is verified (ev), valid for APIKeyTokenTTL — never past the key's own expiry.
func (s *Signer) signAPIKey(k APIKey, u User, now time.Time) (string, time.Time, error) {
	exp := now.Add(APIKeyTokenTTL)
	if k.ExpiresAt != nil && k.ExpiresAt.Before(exp) {
		exp = *k.ExpiresAt
	}
	claims := accessClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    s.issuer,
			Audience:  jwt.ClaimStrings{s.audience},
			Subject:   k.UserID.String(),
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(exp),
		},
		KeyID: k.ID.String(), Scopes: k.Scopes, SpendLimitCents: k.MonthlySpendLimitCents,
		EmailVerified: u.EmailVerified(),
	}
	out, err := s.signClaims(claims)
	return out, exp, err
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
