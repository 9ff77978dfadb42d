// Package callauth authenticates calls between the processes.
//
// Two credentials travel on every internal gRPC call (docs/trust-model.md):
//   - a service token: a short-lived HS256 JWT naming the calling service
//     (iss) and the service called (aud), signed with the deployment's
//     INTERNAL_AUTH_SECRET. It proves the call comes from one of our processes.
//   - for calls made on behalf of a user, the user's own access token: an
//     EdDSA JWT signed by identity, which the called service verifies itself
//     with identity's public keys. A service secret alone never lets a caller
//     act as a user or an admin.
package callauth

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Metadata keys of the two credentials.
const (
	ServiceTokenKey = "x-service-token"
	UserTokenKey    = "authorization"
)

// Token lifetimes and leeway.
const (
	serviceTokenTTL   = 5 * time.Minute
	serviceTokenReuse = 4 * time.Minute
	// Leeway absorbs small clock differences between machines.
	Leeway = 30 * time.Second
)

// ErrInvalidToken is returned for any token that fails verification.
var ErrInvalidToken = errors.New("invalid token")

// MinSecretLen is the shortest INTERNAL_AUTH_SECRET accepted.
const MinSecretLen = 32

// Minter mints service tokens for one calling service.
type Minter struct {
	service string
	secret  []byte

	mu    sync.Mutex
	cache map[string]minted
}

type minted struct {
	token string
	at    time.Time
}

// NewMinter returns a Minter for service, signing with secret.
func NewMinter(service string, secret []byte) (*Minter, error) {
	if len(secret) < MinSecretLen {
		return nil, fmt.Errorf("callauth: INTERNAL_AUTH_SECRET must be at least %d bytes", MinSecretLen)
	}
	return &Minter{service: service, secret: secret, cache: map[string]minted{}}, nil
}

// Token returns a service token for calls to audience, reusing a recent one.
func (m *Minter) Token(audience string) (string, error) {
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if c, ok := m.cache[audience]; ok && now.Sub(c.at) < serviceTokenReuse {
		return c.token, nil
	}
	claims := jwt.RegisteredClaims{
		Issuer:    m.service,
		Audience:  jwt.ClaimStrings{audience},
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(serviceTokenTTL)),
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(m.secret)
	if err != nil {
		return "", fmt.Errorf("callauth: sign service token: %w", err)
	}
	m.cache[audience] = minted{token: tok, at: now}
	return tok, nil
}

// verifyServiceToken returns the calling service named by a valid token
// for audience, and the token's expiry.
func verifyServiceToken(token string, secret []byte, audience string) (string, time.Time, error) {
	var claims jwt.RegisteredClaims
	_, err := jwt.ParseWithClaims(token, &claims, func(*jwt.Token) (any, error) { return secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithAudience(audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(Leeway),
	)
	if err != nil || claims.Issuer == "" || claims.ExpiresAt == nil {
		return "", time.Time{}, ErrInvalidToken
	}
	return claims.Issuer, claims.ExpiresAt.Time, nil
}

// AccessClaims are the claims of a user's access token.
type AccessClaims struct {
	jwt.RegisteredClaims
	// Admin is true when the user was an admin when the token was issued.
	Admin bool `json:"adm"`
	// SessionID is the login (refresh-token family) the token was issued
	// for; absent on API-key tokens. A password change keeps this login
	// and ends every other.
	SessionID string `json:"sid,omitempty"`
	// EmailVerified is true when the user's email was verified when the
	// token was issued; a false one may be stale (the gateway asks identity
	// before refusing, docs/adr/0006-account-lifecycle.md).
	EmailVerified bool `json:"ev,omitempty"`
	// KeyID is set on the short-lived tokens identity issues for a call made
	// with an API key (AuthenticateAPIKey): the key's id. Such a token
	// reaches only the methods whose Rule names one of its Scopes, and never
	// carries adm.
	KeyID string `json:"key_id,omitempty"`
	// Scopes are the API key's scopes (apikey.Scope*).
	Scopes []string `json:"scopes,omitempty"`
	// SpendLimitCents is the API key's monthly spend limit, absent when
	// the key has none; the workflow service passes it to the wallet's
	// reserve.
	SpendLimitCents *int64 `json:"spend_limit_cents,omitempty"`
}

// Principal is the verified user behind a request.
type Principal struct {
	UserID    string
	Admin     bool
	ExpiresAt time.Time
	// Token is the raw access token, forwarded on calls made for the user.
	Token string
	// KeyID, Scopes and SpendLimitCents are the API key's when the call was
	// made with one (see AccessClaims); KeyID is "" for a user's own login.
	KeyID           string
	Scopes          []string
	SpendLimitCents *int64
	// SessionID is the login the token belongs to ("" for API keys).
	SessionID string
	// EmailVerified is the token's ev claim: the email was verified when
	// the token was issued.
	EmailVerified bool
}

// ViaAPIKey reports whether the principal authenticated with an API key.
func (p Principal) ViaAPIKey() bool { return p.KeyID != "" }

// HasScope reports whether the principal's API key has scope. A user's own
// login has every scope: scopes narrow keys only.
func (p Principal) HasScope(scope string) bool {
	if !p.ViaAPIKey() {
		return true
	}
	return slices.Contains(p.Scopes, scope)
}

// KeySet finds the Ed25519 public key for a key id.
type KeySet interface {
	PublicKey(ctx context.Context, kid string) (ed25519.PublicKey, error)
}

// AccessVerifier checks user access tokens: EdDSA only, key by kid, and
// iss, aud, exp and sub all required.
type AccessVerifier struct {
	Keys     KeySet
	Issuer   string
	Audience string
}

// Verify returns the principal of a valid access token, or ErrInvalidToken.
func (v AccessVerifier) Verify(ctx context.Context, token string) (Principal, error) {
	var claims AccessClaims
	_, err := jwt.ParseWithClaims(token, &claims, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		if kid == "" {
			return nil, ErrInvalidToken
		}
		return v.Keys.PublicKey(ctx, kid)
	},
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithIssuer(v.Issuer),
		jwt.WithAudience(v.Audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(Leeway),
	)
	if err != nil || claims.Subject == "" || claims.ExpiresAt == nil {
		return Principal{}, ErrInvalidToken
	}
	p := Principal{UserID: claims.Subject, Admin: claims.Admin, ExpiresAt: claims.ExpiresAt.Time, Token: token,
		SessionID: claims.SessionID, EmailVerified: claims.EmailVerified}
	if claims.KeyID != "" {
		// A key's token is never an admin's, whatever it says.
		p.Admin, p.KeyID, p.Scopes, p.SpendLimitCents, p.SessionID = false, claims.KeyID, claims.Scopes, claims.SpendLimitCents, ""
	}
	return p, nil
}

// DevInternalAuthSecret is the INTERNAL_AUTH_SECRET every process uses when
// the variable is unset outside production (each logs a warning), so a local
// stack works without settings. Production refuses to start with it.
const DevInternalAuthSecret = "meterflow-development-internal-auth-secret-not-for-production"
