package callauth

import (
	"context"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// UserVerifier checks a user's access token.
type UserVerifier interface {
	Verify(ctx context.Context, token string) (Principal, error)
}

// CachingVerifier wraps a UserVerifier and remembers the tokens it
// verified until they expire: a token that verified once verifies until
// its exp, so caching changes no decision and spares an Ed25519 check and
// a JSON parse per request (the gateway and every service check the same
// token once per call). The token itself is the key: hashing it (SHA-256,
// as before ADR 0023) cost more than the rest of a cache hit, and the
// process holds the token for the call anyway; an entry is the token and
// its principal, about 600 bytes.
type CachingVerifier struct {
	verifier UserVerifier
	cache    *verified[string, Principal]
}

// NewCachingVerifier returns a verifier caching at most size tokens (0
// disables the cache).
func NewCachingVerifier(v UserVerifier, size int) (*CachingVerifier, error) {
	cv := &CachingVerifier{verifier: v}
	if size > 0 {
		c, err := newVerified[string](size, func(p Principal) time.Time { return p.ExpiresAt })
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
	if p, ok := cv.cache.get(token); ok {
		return p, nil
	}
	p, err := cv.verifier.Verify(ctx, token)
	if err != nil {
		return Principal{}, err
	}
	cv.cache.add(token, p)
	return p, nil
}

// serviceTokenCache remembers verified service tokens the same way, keyed
// by audience and token. Each caller mints a new token only every few
// minutes (serviceTokenReuse), so a handful of entries serve every call.
type serviceTokenCache struct {
	cache *verified[serviceTokenKey, verifiedService]
}

type serviceTokenKey struct{ audience, token string }

type verifiedService struct {
	issuer    string
	expiresAt time.Time
}

func newServiceTokenCache() serviceTokenCache {
	c, _ := newVerified[serviceTokenKey](256, func(v verifiedService) time.Time { return v.expiresAt }) // size > 0: no error
	return serviceTokenCache{cache: c}
}

// verify returns the calling service named by a token for audience that
// is valid under one of secrets (tried in order; empty ones skipped).
func (c serviceTokenCache) verify(token, audience string, secrets ...[]byte) (string, error) {
	key := serviceTokenKey{audience: audience, token: token}
	if v, ok := c.cache.get(key); ok {
		return v.issuer, nil
	}
	for _, secret := range secrets {
		if len(secret) == 0 {
			continue
		}
		iss, exp, err := verifyServiceToken(token, secret, audience)
		if err != nil {
			continue
		}
		c.cache.add(key, verifiedService{issuer: iss, expiresAt: exp})
		return iss, nil
	}
	return "", ErrInvalidToken
}

// verified is a bounded cache of verification results that answers only
// until each result's expiry. Expiry is checked strictly (no leeway), so
// the cache never accepts a token its verifier would refuse.
type verified[K comparable, V any] struct {
	lru     *lru.Cache[K, V]
	expires func(V) time.Time
}

func newVerified[K comparable, V any](size int, expires func(V) time.Time) (*verified[K, V], error) {
	c, err := lru.New[K, V](size)
	if err != nil {
		return nil, err
	}
	return &verified[K, V]{lru: c, expires: expires}, nil
}

// get returns the result for key while it has not expired.
func (c *verified[K, V]) get(key K) (V, bool) {
	v, ok := c.lru.Get(key)
	if !ok {
		return v, false
	}
	if !time.Now().Before(c.expires(v)) {
		c.lru.Remove(key)
		var zero V
		return zero, false
	}
	return v, true
}

// add remembers v for key unless it has already expired.
func (c *verified[K, V]) add(key K, v V) {
	if time.Now().Before(c.expires(v)) {
		c.lru.Add(key, v)
	}
}
