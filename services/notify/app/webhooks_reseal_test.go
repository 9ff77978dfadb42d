package app_test

import (
	"context"
	"crypto/rand"
	"testing"

	"github.com/meterflow/meterflow/platform/secretbox"
	notifyv1 "github.com/meterflow/meterflow/proto/gen/meterflow/notify/v1"
	"github.com/meterflow/meterflow/services/notify/app"
)

// TestWebhookReseal: after WEBHOOK_SECRETS_KEY changes (the old key in
// WEBHOOK_SECRETS_KEYS_PREVIOUS), `notify reseal` seals every secret (and
// a rotation's previous one) under the new key, which alone then opens
// them; a second run finds nothing to do, and a key outside the ring
// leaves an endpoint unreadable, named.
func TestWebhookReseal(t *testing.T) {
	t.Parallel()
	hh := setupHooks(t, nil)
	user := hh.identity.addUser("ada@example.com", true)
	ep := hh.create(t, user, "http://127.0.0.1:1/hooks", "run.failed")
	id := ep.GetEndpoint().GetId()
	rot, err := hh.hooks.RotateSecret(hh.as(t, user), &notifyv1.RotateSecretRequest{Id: id})
	if err != nil {
		t.Fatal(err)
	}
	newKey := make([]byte, 32)
	_, _ = rand.Read(newKey)
	cfg := hh.cfg
	cfg.Webhooks.PreviousSecretsKeys = [][]byte{hh.cfg.Webhooks.SecretsKey}
	cfg.Webhooks.SecretsKey = newKey
	res, err := app.Reseal(context.Background(), cfg)
	if err != nil || res.Resealed != 1 || res.Current != 0 || len(res.Unreadable) != 0 {
		t.Fatalf("reseal = %+v, %v", res, err)
	}
	only, _ := secretbox.NewKeyring(newKey)
	var cur, prev []byte
	if err := hh.pool.QueryRow(context.Background(), `SELECT secret_sealed, previous_secret_sealed FROM webhook_endpoints WHERE id = $1`, id).Scan(&cur, &prev); err != nil {
		t.Fatal(err)
	}
	if got, err := only.Open(cur, "webhook_endpoint:"+id); err != nil || string(got) != rot.GetSecret() {
		t.Fatalf("current secret under the new key: %q, %v", got, err)
	}
	if got, err := only.Open(prev, "webhook_endpoint:"+id); err != nil || string(got) != ep.GetSecret() {
		t.Fatalf("previous secret under the new key: %q, %v", got, err)
	}
	if res, err := app.Reseal(context.Background(), cfg); err != nil || res.Resealed != 0 || res.Current != 1 {
		t.Fatalf("second reseal = %+v, %v", res, err)
	}
	other := make([]byte, 32)
	_, _ = rand.Read(other)
	cfg.Webhooks.SecretsKey, cfg.Webhooks.PreviousSecretsKeys = other, nil
	if res, err := app.Reseal(context.Background(), cfg); err != nil || len(res.Unreadable) != 1 || res.Unreadable[0].String() != id {
		t.Fatalf("reseal without the key = %+v, %v", res, err)
	}
}
