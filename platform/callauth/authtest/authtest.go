// Package authtest mints access and service tokens for tests, so a service
// can be tested without a running identity service.
package authtest

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/meterflow/meterflow/platform/callauth"
)

// Defaults used by Issuer, matching the processes' defaults.
const (
	Issuer   = "meterflow-identity"
	Audience = "meterflow-api"
	// Secret is an INTERNAL_AUTH_SECRET for tests.
	Secret = "test-internal-auth-secret-0123456789abcdef"
	kid    = "test-key"
)

// Keys is an in-memory signing key that also serves as a callauth.KeySet.
type Keys struct {
	priv ed25519.PrivateKey
	pub  ed25519.PublicKey
}

// NewKeys returns a fresh Ed25519 test key.
func NewKeys(t testing.TB) *Keys {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &Keys{priv: priv, pub: pub}
}

// PublicKey implements callauth.KeySet.
func (k *Keys) PublicKey(_ context.Context, id string) (ed25519.PublicKey, error) {
	if id != kid {
		return nil, callauth.ErrInvalidToken
	}
	return k.pub, nil
}

// Verifier returns an AccessVerifier for tokens of these keys.
func (k *Keys) Verifier() callauth.AccessVerifier {
	return callauth.AccessVerifier{Keys: k, Issuer: Issuer, Audience: Audience}
}

// AccessToken returns a valid 15-minute access token for userID.
func (k *Keys) AccessToken(t testing.TB, userID string, admin bool) string {
	t.Helper()
	return k.sign(t, callauth.AccessClaims{Admin: admin}, userID)
}

// KeyToken returns a valid token as identity issues it for a call made
// with the API key keyID of userID (AuthenticateAPIKey): the key's scopes
// and spend limit (nil: none) in its claims. admin sets the adm claim,
// which no such token should carry, for tests that it is ignored.
func (k *Keys) KeyToken(t testing.TB, userID, keyID string, scopes []string, limitCents *int64, admin bool) string {
	t.Helper()
	return k.sign(t, callauth.AccessClaims{Admin: admin, KeyID: keyID, Scopes: scopes, SpendLimitCents: limitCents}, userID)
}

// Token returns a valid 15-minute access token for userID with claims
// (their registered claims are replaced), e.g. a login's sid and ev.
func (k *Keys) Token(t testing.TB, userID string, claims callauth.AccessClaims) string {
	t.Helper()
	return k.sign(t, claims, userID)
}

func (k *Keys) sign(t testing.TB, claims callauth.AccessClaims, userID string) string {
	t.Helper()
	now := time.Now()
	claims.RegisteredClaims = jwt.RegisteredClaims{
		Issuer: Issuer, Audience: jwt.ClaimStrings{Audience}, Subject: userID,
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(15 * time.Minute)),
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	tok.Header["kid"] = kid
	s, err := tok.SignedString(k.priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Minter returns a service-token minter for service using Secret.
func Minter(t testing.TB, service string) *callauth.Minter {
	t.Helper()
	m, err := callauth.NewMinter(service, []byte(Secret))
	if err != nil {
		t.Fatal(err)
	}
	return m
}
