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

// TestKeyRotation: rotating JWT_SIGNING_KEY_FILE is deterministic. Each
// replica publishes the key of its own file and keeps it active while it
// runs (a lease it renews); no replica retires another's key, so during a
// rollout old and new keys are both active, an old replica that restarts
// does not take the new key's place (regression: "the last replica to
// start wins" retired the new key, and the tokens of the replicas on it
// stopped verifying a minute later), and a key stays published until every
// token it signed has expired.
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

	// The rollout of key2: a replica on key2 starts while replicas on key1
	// still run. Both keys are active; neither replica retired the other.
	b := startOn(t, pool, url, key2, fastArgon2)
	keys := keysOf(t, b)
	if len(keys) != 2 || keys[kid2].GetRetiredAt() != nil || keys[kid1].GetRetiredAt() != nil {
		t.Fatalf("during the rollout keys = %v", keys)
	}
	// An old replica restarting (rescheduled) changes nothing for key2.
	a2 := startOn(t, pool, url, key1, fastArgon2)
	if keys := keysOf(t, b); keys[kid2].GetRetiredAt() != nil || keys[kid1].GetRetiredAt() != nil {
		t.Fatalf("after an old replica restarted keys = %v", keys)
	}
	lateOldToken := a2.signUp("rot-late@example.com").GetTokens().GetAccessToken()
	newToken := b.signUp("rot2@example.com").GetTokens().GetAccessToken()
	for name, tok := range map[string]string{"old": oldToken, "late old": lateOldToken, "new": newToken} {
		if _, err := b.verifier().Verify(context.Background(), tok); err != nil {
			t.Errorf("%s token on the new replica: %v", name, err)
		}
		if _, err := a.verifier().Verify(context.Background(), tok); err != nil {
			t.Errorf("%s token on an old replica: %v", name, err)
		}
	}
	// The old replica verifies the new key too: GetUser goes through its own key set.
	if _, err := a.client.GetUser(as(newToken), &identityv1.GetUserRequest{}); err != nil {
		t.Fatalf("GetUser on the old replica with a new-key token: %v", err)
	}

	// The rollout ends: no replica renews key1 any more, key2's replicas
	// do. Once key1's lease has run out it is retired, and it stays
	// published until its last tokens have expired (TTL + 1 minute).
	b.clock.Advance(identity.KeyLease + time.Second)
	if err := b.app.RenewSigningKey(context.Background()); err != nil {
		t.Fatal(err)
	}
	keys = keysOf(t, b)
	if keys[kid1] == nil || keys[kid1].GetRetiredAt() == nil || keys[kid2].GetRetiredAt() != nil {
		t.Fatalf("after the rollout keys = %v", keys)
	}
	if _, err := b.verifier().Verify(context.Background(), lateOldToken); err != nil {
		t.Fatalf("a token of the retired key no longer verifies: %v", err)
	}
	b.clock.Advance(15*time.Minute + time.Minute - 5*time.Second)
	if err := b.app.RenewSigningKey(context.Background()); err != nil {
		t.Fatal(err)
	}
	if keys := keysOf(t, b); keys[kid1] == nil {
		t.Fatalf("key1 unpublished before its tokens expired: %v", keys)
	}
	b.clock.Advance(10 * time.Second)
	if err := b.app.RenewSigningKey(context.Background()); err != nil {
		t.Fatal(err)
	}
	if keys := keysOf(t, b); len(keys) != 1 || keys[kid2] == nil || keys[kid2].GetRetiredAt() != nil {
		t.Fatalf("after TTL keys = %v", keys)
	}
}

// TestUnleasedKeysGetALease: a key registered by a release before leases
// (retired_at NULL, active for good) gets one lease when the first replica
// of this release starts, and then retires like any other.
func TestUnleasedKeysGetALease(t *testing.T) {
	t.Parallel()
	pool, url := dbtest.New(t, migrations.FS)
	legacy := genKey(t)
	legacyKid := identity.KeyID(legacy.Public().(ed25519.PublicKey))
	if _, err := pool.Exec(context.Background(), "INSERT INTO signing_keys (kid, public_key, activated_at) VALUES ($1, $2, now())",
		legacyKid, []byte(legacy.Public().(ed25519.PublicKey))); err != nil {
		t.Fatal(err)
	}
	b := startOn(t, pool, url, genKey(t), fastArgon2)
	if keys := keysOf(t, b); len(keys) != 2 || keys[legacyKid] == nil {
		t.Fatalf("keys = %v", keys)
	}
	b.clock.Advance(identity.KeyLease + 16*time.Minute + time.Second)
	if err := b.app.RenewSigningKey(context.Background()); err != nil {
		t.Fatal(err)
	}
	if keys := keysOf(t, b); len(keys) != 1 || keys[legacyKid] != nil {
		t.Fatalf("the unleased key stays published: %v", keys)
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
