package identity

import (
	"context"
	"crypto/ed25519"
	"sync"
	"time"
)

// Cache limits of KeySet: the same shape as callauth.RemoteKeySet, reading
// the database instead of calling GetSigningKeys.
const (
	keySetMaxAge        = 10 * time.Second
	keySetMinRefetchGap = time.Second
)

// KeySet serves identity's own published keys to the access-token verifier
// (it satisfies callauth.KeySet), so identity verifies tokens exactly as
// other services do, including keys activated by other replicas.
type KeySet struct {
	svc *Service

	mu      sync.Mutex
	keys    map[string]ed25519.PublicKey
	fetched time.Time
}

// NewKeySet returns a KeySet reading svc's published keys.
func NewKeySet(svc *Service) *KeySet {
	return &KeySet{svc: svc}
}

// PublicKey returns the published key kid, or ErrInvalidToken.
func (k *KeySet) PublicKey(ctx context.Context, kid string) (ed25519.PublicKey, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := k.svc.now()
	age := now.Sub(k.fetched)
	key, ok := k.keys[kid]
	if ok && age < keySetMaxAge {
		return key, nil
	}
	if !ok && age < keySetMinRefetchGap && age >= 0 {
		return nil, ErrInvalidToken
	}
	keys, err := k.svc.SigningKeys(ctx)
	if err != nil {
		return nil, err
	}
	k.fetched = now
	k.keys = make(map[string]ed25519.PublicKey, len(keys))
	for _, sk := range keys {
		k.keys[sk.Kid] = sk.PublicKey
	}
	if key, ok := k.keys[kid]; ok {
		return key, nil
	}
	return nil, ErrInvalidToken
}
