package callauth

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"sync"
	"time"

	identityv1 "github.com/meterflow/meterflow/proto/gen/meterflow/identity/v1"
)

// Refetch limits of RemoteKeySet.
const (
	keysMaxAge        = 5 * time.Minute
	keysMinRefetchGap = 10 * time.Second
)

// RemoteKeySet caches identity's public signing keys. An unknown kid triggers
// a refetch, at most once per keysMinRefetchGap, so forged kids cannot flood
// identity; keys are also refetched when older than keysMaxAge so retired keys
// disappear.
type RemoteKeySet struct {
	client identityv1.IdentityServiceClient

	mu      sync.Mutex
	keys    map[string]ed25519.PublicKey
	fetched time.Time
}

// NewRemoteKeySet returns a key set backed by identity's GetSigningKeys.
func NewRemoteKeySet(client identityv1.IdentityServiceClient) *RemoteKeySet {
	return &RemoteKeySet{client: client, keys: map[string]ed25519.PublicKey{}}
}

// PublicKey returns the key for kid, fetching the key list when needed.
func (s *RemoteKeySet) PublicKey(ctx context.Context, kid string) (ed25519.PublicKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	key, ok := s.keys[kid]
	stale := now.Sub(s.fetched) > keysMaxAge
	if ok && !stale {
		return key, nil
	}
	if !stale && now.Sub(s.fetched) < keysMinRefetchGap {
		return nil, ErrInvalidToken
	}
	if err := s.refresh(ctx); err != nil {
		if ok {
			return key, nil // keep serving the cached key while identity is unreachable
		}
		return nil, err
	}
	if key, ok := s.keys[kid]; ok {
		return key, nil
	}
	return nil, ErrInvalidToken
}

// Refresh fetches the key list now.
func (s *RemoteKeySet) Refresh(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refresh(ctx)
}

func (s *RemoteKeySet) refresh(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	s.fetched = time.Now() // also on failure: bounds the retry rate
	resp, err := s.client.GetSigningKeys(ctx, &identityv1.GetSigningKeysRequest{})
	if err != nil {
		return fmt.Errorf("callauth: fetch signing keys from identity: %w", err)
	}
	keys := make(map[string]ed25519.PublicKey, len(resp.GetKeys()))
	for _, k := range resp.GetKeys() {
		if len(k.GetPublicKey()) == ed25519.PublicKeySize {
			keys[k.GetKid()] = ed25519.PublicKey(k.GetPublicKey())
		}
	}
	s.keys = keys
	return nil
}
