package app_test

import (
	"context"
	"crypto/ed25519"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/meterflow/meterflow/platform/database/dbtest"
	identityv1 "github.com/meterflow/meterflow/proto/gen/meterflow/identity/v1"
	"github.com/meterflow/meterflow/services/identity/app"
	"github.com/meterflow/meterflow/services/identity/internal/identity"
	"github.com/meterflow/meterflow/services/identity/migrations"
)

func genKey(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func keysOf(t *testing.T, b *bundle) map[string]*identityv1.SigningKey {
	t.Helper()
	resp, err := b.client.GetSigningKeys(context.Background(), &identityv1.GetSigningKeysRequest{})
	if err != nil {
		t.Fatalf("GetSigningKeys: %v", err)
	}
	out := map[string]*identityv1.SigningKey{}
	for _, k := range resp.GetKeys() {
		out[k.GetKid()] = k
	}
	return out
}

func TestKeyRotation(t *testing.T) {
	t.Parallel()
	pool, url := dbtest.New(t, migrations.FS)
	key1, key2 := genKey(t), genKey(t)
	kid1, kid2 := identity.KeyID(key1.Public().(ed25519.PublicKey)), identity.KeyID(key2.Public().(ed25519.PublicKey))

	a := startOn(t, pool, url, key1, fastArgon2)
	if a.app.KeyID != kid1 || len(kid1) != 16 {
		t.Fatalf("kid = %q, want %q", a.app.KeyID, kid1)
	}
	if keys := keysOf(t, a); len(keys) != 1 || keys[kid1] == nil || keys[kid1].GetRetiredAt() != nil ||
		!ed25519.PublicKey(keys[kid1].GetPublicKey()).Equal(key1.Public()) {
		t.Fatalf("keys = %v", keys)
	}
	oldToken := a.signUp("rot@example.com").GetTokens().GetAccessToken()

	// A second replica with the same key agrees: still one active key.
	startOn(t, pool, url, key1, fastArgon2)
	if keys := keysOf(t, a); len(keys) != 1 || keys[kid1].GetRetiredAt() != nil {
		t.Fatalf("same key twice: keys = %v", keys)
	}

	// Deploying key2 retires key1, which stays published for its tokens.
	b := startOn(t, pool, url, key2, fastArgon2)
	keys := keysOf(t, b)
	if len(keys) != 2 || keys[kid2].GetRetiredAt() != nil || keys[kid1].GetRetiredAt() == nil {
		t.Fatalf("after rotation keys = %v", keys)
	}
	if _, err := b.verifier().Verify(context.Background(), oldToken); err != nil {
		t.Fatalf("token of the retired key no longer verifies: %v", err)
	}
	newToken := b.signUp("rot2@example.com").GetTokens().GetAccessToken()
	if _, err := a.verifier().Verify(context.Background(), newToken); err != nil {
		t.Fatalf("token of the new key does not verify: %v", err)
	}
	// The old replica verifies the new key too: GetUser goes through its own key set.
	if _, err := a.client.GetUser(as(newToken), &identityv1.GetUserRequest{}); err != nil {
		t.Fatalf("GetUser on the old replica with a new-key token: %v", err)
	}

	// Once every token of key1 has expired (TTL + 1 minute), key1 disappears.
	b.clock.Advance(15*time.Minute + time.Minute - 5*time.Second)
	if keys := keysOf(t, b); keys[kid1] == nil {
		t.Fatalf("key1 unpublished before its tokens expired: %v", keys)
	}
	b.clock.Advance(10 * time.Second)
	if keys := keysOf(t, b); len(keys) != 1 || keys[kid2] == nil {
		t.Fatalf("after TTL keys = %v", keys)
	}
}

func TestKeygen(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "key.pem")
	kid, err := app.GenerateKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("stat = %v, %v; want mode 0600", fi, err)
	}
	data, _ := os.ReadFile(path)
	key, err := identity.ParsePrivateKeyPEM(data)
	if err != nil || identity.KeyID(key.Public().(ed25519.PublicKey)) != kid {
		t.Fatalf("ParsePrivateKeyPEM = %v, kid mismatch (%q)", err, kid)
	}
	if _, err := app.GenerateKeyFile(path); err == nil {
		t.Fatal("keygen overwrote an existing key")
	}
}
