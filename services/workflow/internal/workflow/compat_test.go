package workflow

import (
	"bytes"
	"encoding/hex"
	"testing"

	"github.com/meterflow/meterflow/platform/secretbox"
)

// Values stored before this service moved to platform/secretbox and
// platform/idempotency. They were made by the service's own copy of
// secretbox (internal/secretbox, removed) under the key below, and by its
// request hash; stored rows hold such values, so they must keep working.
const (
	// sealedV2 is "Bearer n8n-secret" sealed to authContext("greet", compatURL).
	sealedV2 = "a8d2ebcb6d2894a1c34ca96d9a92770d95fc5561cd2f5cb7e30bc14e09feb290b7f909602473e515e45e4a86fc"
	// sealedV1 is "Bearer old-secret" sealed to the slug alone (seal version 1).
	sealedV1 = "cb7db444ecf3379e2703d86619c380bc6e949e19836e3ff0154f86af30028fa5f051b117847115c8d21fbe7dc7"
	// storedHash is requestHash("greet", `{"a":1,"b":"x"}`).
	storedHash = "29c6cf7650f580bd6fbea5775537233af1e068bcdb15a5f841425ffe25e89943"
	compatURL  = "https://n8n.example.com/webhook/greet"
)

func TestStoredSecretsStillOpen(t *testing.T) {
	t.Parallel()
	box, err := secretbox.New(bytes.Repeat([]byte{0x42}, secretbox.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	s := NewService(Config{Secrets: box})
	tests := []struct {
		sealed, want string
		version      int
	}{
		{sealedV2, "Bearer n8n-secret", 2},
		{sealedV1, "Bearer old-secret", 1},
	}
	for _, tc := range tests {
		enc, _ := hex.DecodeString(tc.sealed)
		got, version, err := s.openSecret(Workflow{Slug: "greet", WebhookURL: compatURL, AuthHeaderName: "Authorization", AuthHeaderValueEnc: enc})
		if err != nil || string(got) != tc.want || version != tc.version {
			t.Errorf("openSecret(v%d) = %q, v%d, %v; want %q", tc.version, got, version, err, tc.want)
		}
	}
}

// TestStoredRequestHashesStillMatch: a repeat of a request made before an
// upgrade must still be recognized as the same request (not 422).
func TestStoredRequestHashesStillMatch(t *testing.T) {
	t.Parallel()
	input, err := canonicalObject([]byte(`{"b": "x", "a": 1}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(requestHash("greet", input)); got != storedHash {
		t.Fatalf("requestHash = %s, want %s", got, storedHash)
	}
}
