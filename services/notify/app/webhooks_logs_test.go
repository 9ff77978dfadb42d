package app_test

import (
	"strings"
	"testing"

	notifyv1 "github.com/meterflow/meterflow/proto/gen/meterflow/notify/v1"
)

// TestWebhookSecretsNeverLogged: through creation, rotation, a failed and
// a succeeded attempt, notify's and River's logs carry neither secret,
// nor the URL's query (where receivers keep tokens), nor the event's data.
func TestWebhookSecretsNeverLogged(t *testing.T) {
	t.Parallel()
	hh := setupHooks(t, nil)
	user := hh.identity.addUser("ada@example.com", true)
	rcv := startReceiver(t, func(n int) int {
		if n == 1 {
			return 500
		}
		return 200
	})
	ep := hh.create(t, user, rcv.URL+"/hooks?token=query-token-s3cr3t", "run.succeeded")
	rot, err := hh.hooks.RotateSecret(hh.as(t, user), &notifyv1.RotateSecretRequest{Id: ep.GetEndpoint().GetId()})
	if err != nil {
		t.Fatal(err)
	}
	hh.publish(t, user, "run.succeeded", map[string]any{"id": "r1", "output": "private-output-marker"})
	if d := hh.waitDelivery(t, user, ep.GetEndpoint().GetId(), settled); d.GetStatus() != "succeeded" || d.GetAttempts() != 2 {
		t.Fatalf("delivery = %v", d)
	}
	logs := hh.logs.String()
	for name, secret := range map[string]string{
		"secret": ep.GetSecret(), "rotated secret": rot.GetSecret(), "secret's key": strings.TrimPrefix(ep.GetSecret(), "whsec_"),
		"URL query": "query-token-s3cr3t", "event data": "private-output-marker",
	} {
		if strings.Contains(logs, secret) {
			t.Errorf("the logs carry the %s", name)
		}
	}
	if !strings.Contains(logs, "webhook delivered") {
		t.Fatal("no delivery logged: the test saw nothing")
	}
}
