package api

import (
	"context"
	"crypto/sha256"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/meterflow/meterflow/proto/callauth"
)

// TokenVerifier verifies access tokens with callauth.AccessVerifier and
// remembers the verified ones, keyed by the SHA-256 of the token, until they
// expire: a token that verified once verifies until its exp, so caching
// changes no decision and spares an Ed25519 check per request.
type TokenVerifier struct {
	verifier callauth.AccessVerifier
	cache    *lru.Cache[[32]byte, callauth.Principal]
}

// NewTokenVerifier returns a verifier caching at most size tokens (0 disables the cache).
func NewTokenVerifier(v callauth.AccessVerifier, size int) (*TokenVerifier, error) {
	tv := &TokenVerifier{verifier: v}
	if size > 0 {
		c, err := lru.New[[32]byte, callauth.Principal](size)
		if err != nil {
			return nil, err
		}
		tv.cache = c
	}
	return tv, nil
}

// Verify returns the principal of a valid token, or callauth.ErrInvalidToken.
func (tv *TokenVerifier) Verify(ctx context.Context, token string) (callauth.Principal, error) {
	if tv.cache == nil {
		return tv.verifier.Verify(ctx, token)
	}
	key := sha256.Sum256([]byte(token))
	if p, ok := tv.cache.Get(key); ok {
		// Expiry is checked strictly here (no leeway), so the cache never
		// accepts a token the verifier would refuse.
		if time.Now().Before(p.ExpiresAt) {
			return p, nil
		}
		tv.cache.Remove(key)
	}
	p, err := tv.verifier.Verify(ctx, token)
	if err != nil {
		return callauth.Principal{}, err
	}
	if time.Now().Before(p.ExpiresAt) {
		tv.cache.Add(key, p)
	}
	return p, nil
}
