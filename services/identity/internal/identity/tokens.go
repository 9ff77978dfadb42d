package identity

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// accessClaims mirrors callauth.AccessClaims, which every service verifies;
// identity does not import callauth here to keep gRPC out of this package.
type accessClaims struct {
	jwt.RegisteredClaims
	Admin bool `json:"adm"`
	// SessionID is the login family of a login's token (callauth's sid).
	SessionID string `json:"sid,omitempty"`
	// EmailVerified: the email was verified when the token was issued.
	EmailVerified bool `json:"ev,omitempty"`
	// The API key's claims on tokens of calls made with a key (apikeys.go).
	KeyID           string   `json:"key_id,omitempty"`
	Scopes          []string `json:"scopes,omitempty"`
	SpendLimitCents *int64   `json:"spend_limit_cents,omitempty"`
}

// Signer issues access tokens with the active Ed25519 key.
type Signer struct {
	key      ed25519.PrivateKey
	kid      string
	issuer   string
	audience string
	ttl      time.Duration
}

// NewSigner returns a Signer for key whose tokens name issuer and audience
// and live for ttl.
func NewSigner(key ed25519.PrivateKey, issuer, audience string, ttl time.Duration) *Signer {
	return &Signer{key: key, kid: KeyID(key.Public().(ed25519.PublicKey)), issuer: issuer, audience: audience, ttl: ttl}
}

// KeyID returns the active key's id.
func (s *Signer) KeyID() string { return s.kid }

// PublicKey returns the active key's public half.
func (s *Signer) PublicKey() ed25519.PublicKey { return s.key.Public().(ed25519.PublicKey) }

// TTL returns the access tokens' lifetime.
func (s *Signer) TTL() time.Duration { return s.ttl }

// Sign returns an access token for user's login family (its sid), issued
// at now.
func (s *Signer) Sign(u User, family uuid.UUID, now time.Time) (string, error) {
	claims := accessClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    s.issuer,
			Audience:  jwt.ClaimStrings{s.audience},
			Subject:   u.ID.String(),
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(s.ttl)),
		},
		Admin: u.IsAdmin, SessionID: family.String(), EmailVerified: u.EmailVerified(),
	}
	return s.signClaims(claims)
}

// signClaims signs claims with the active key, naming it in kid.
func (s *Signer) signClaims(claims accessClaims) (string, error) {
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	tok.Header["kid"] = s.kid
	out, err := tok.SignedString(s.key)
	if err != nil {
		return "", fmt.Errorf("identity: sign access token: %w", err)
	}
	return out, nil
}

// KeyID is the first 16 characters of base64url(SHA-256(public key)):
// stable for a key, so replicas sharing a key publish the same kid.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return base64.RawURLEncoding.EncodeToString(sum[:])[:16]
}

// ParsePrivateKeyPEM reads a PEM "PRIVATE KEY" (PKCS#8) holding an Ed25519 key.
func ParsePrivateKeyPEM(data []byte) (ed25519.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, errors.New("identity: signing key is not a PEM \"PRIVATE KEY\" block")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("identity: parse signing key: %w", err)
	}
	ed, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("identity: signing key is %T, want Ed25519", k)
	}
	return ed, nil
}

// MarshalPrivateKeyPEM encodes key as a PEM PKCS#8 "PRIVATE KEY" block.
func MarshalPrivateKeyPEM(key ed25519.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("identity: encode signing key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// GenerateKey returns a new Ed25519 signing key.
func GenerateKey() (ed25519.PrivateKey, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("identity: generate signing key: %w", err)
	}
	return priv, nil
}

// randomToken returns 32 random bytes, base64url without padding: an
// opaque refresh token. crypto/rand.Read never fails (Go ≥ 1.24).
func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// HashToken returns the SHA-256 of a refresh token: the only form stored.
// A fast hash suffices because the token has 256 bits of entropy.
func HashToken(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}
