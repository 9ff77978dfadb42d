package callauth

import (
	"context"
	"crypto/sha256"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// UserVerifier checks a user's access token.
type UserVerifier interface {
	Verify(ctx context.Context, token string) (Principal, error)
}

// CachingVerifier wraps a UserVerifier and remembers the tokens it
// verified, keyed by the SHA-256 of the token, until they expire: a token
// that verified once verifies until its exp, so caching changes no decision
// and spares an Ed25519 check and a JSON parse per request (the gateway and
// every service check the same token once per call).
type CachingVerifier struct {
	verifier UserVerifier
	cache    *lru.Cache[[32]byte, Principal]
}

// NewCachingVerifier returns a verifier caching at most size tokens (0
// disables the cache).
func NewCachingVerifier(v UserVerifier, size int) (*CachingVerifier, error) {
	cv := &CachingVerifier{verifier: v}
	if size > 0 {
		c, err := lru.New[[32]byte, Principal](size)
		if err != nil {
			return nil, err
		}
		cv.cache = c
	}
	return cv, nil
}

// Verify returns the principal of a valid token, or ErrInvalidToken.
func (cv *CachingVerifier) Verify(ctx context.Context, token string) (Principal, error) {
	if cv.cache == nil {
		return cv.verifier.Verify(ctx, token)
	}
	key := sha256.Sum256([]byte(token))
	if p, ok := cv.cache.Get(key); ok {
		// Expiry is checked strictly here (no leeway), so the cache never
		// accepts a token the verifier would refuse.
		if time.Now().Before(p.ExpiresAt) {
			return p, nil
		}
		cv.cache.Remove(key)
	}
	p, err := cv.verifier.Verify(ctx, token)
	if err != nil {
		return Principal{}, err
	}
	if time.Now().Before(p.ExpiresAt) {
		cv.cache.Add(key, p)
	}
	return p, nil
}

// serviceTokenCache remembers verified service tokens the same way. Each
// caller mints a new token only every few minutes (serviceTokenReuse), so
// a handful of entries serve every call.
type serviceTokenCache struct {
	cache *lru.Cache[[32]byte, verifiedService]
}

type verifiedService struct {
	issuer    string
	expiresAt time.Time
}

func newServiceTokenCache() serviceTokenCache {
	c, _ := lru.New[[32]byte, verifiedService](256) // size > 0: no error
	return serviceTokenCache{cache: c}
}

// verify returns the calling service named by a valid token for audience.
func (c serviceTokenCache) verify(token string, secret []byte, audience string) (string, error) {
	key := sha256.Sum256([]byte(audience + "\x00" + token))
	if v, ok := c.cache.Get(key); ok {
		if time.Now().Before(v.expiresAt) {
			return v.issuer, nil
		}
		c.cache.Remove(key)
	}
	iss, exp, err := verifyServiceToken(token, secret, audience)
	if err != nil {
		return "", err
	}
	if time.Now().Before(exp) {
		c.cache.Add(key, verifiedService{issuer: iss, expiresAt: exp})
	}
	return iss, nil
}
