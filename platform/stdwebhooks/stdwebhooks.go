// Package stdwebhooks signs and verifies HTTP requests the way the Standard
// Webhooks specification (standardwebhooks.com) says: headers webhook-id,
// webhook-timestamp (Unix seconds) and webhook-signature ("v1," + base64
// HMAC-SHA256 over "id.timestamp.body" keyed with the secret's decoded
// bytes; several signatures space-separated while a secret is rotated).
//
// It is the one place Meterflow does this: the workflow service signs its
// calls to n8n with it, and outgoing webhooks to users' endpoints are to
// use the same functions. The HMAC itself is the specification's official
// Go library (github.com/standard-webhooks/standard-webhooks/libraries/go);
// this package adds what the library leaves to its callers: the secret
// format and its bounds, several secrets at once, headers set in one call,
// and a verification whose clock a test can set.
package stdwebhooks

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// The headers of a signed request.
const (
	HeaderID        = standardwebhooks.HeaderWebhookID
	HeaderTimestamp = standardwebhooks.HeaderWebhookTimestamp
	HeaderSignature = standardwebhooks.HeaderWebhookSignature
)

// SecretPrefix starts every secret's text form: "whsec_" + standard base64
// of the key bytes.
const SecretPrefix = "whsec_"

// Bounds of a secret's key, in bytes, as the specification recommends.
const (
	MinKeyBytes = 24
	MaxKeyBytes = 64
	// NewKeyBytes is the size of the keys NewSecret makes.
	NewKeyBytes = 32
)

// Tolerance is how far a request's timestamp may be from the receiver's
// clock, either way, before Verify refuses it (replay protection).
const Tolerance = 5 * time.Minute

// Errors of ParseSecret and Verify.
var (
	ErrInvalidSecret    = errors.New(`secret must be "whsec_" followed by the standard base64 of 24 to 64 bytes`)
	ErrMissingHeaders   = errors.New("webhook-id, webhook-timestamp and webhook-signature are required")
	ErrInvalidTimestamp = errors.New("webhook-timestamp is not a Unix time in seconds")
	ErrTooOld           = errors.New("webhook-timestamp is too far in the past")
	ErrTooNew           = errors.New("webhook-timestamp is too far in the future")
	ErrNoMatch          = errors.New("no signature matches")
)

// Key is a secret's decoded bytes: what the HMAC is keyed with.
type Key []byte

// ParseSecret decodes "whsec_<base64>" into its key.
func ParseSecret(secret string) (Key, error) {
	raw, ok := strings.CutPrefix(secret, SecretPrefix)
	if !ok {
		return nil, ErrInvalidSecret
	}
	key, err := base64.StdEncoding.Strict().DecodeString(raw)
	if err != nil || len(key) < MinKeyBytes || len(key) > MaxKeyBytes {
		return nil, ErrInvalidSecret
	}
	return key, nil
}

// String is the key's secret text, "whsec_" + base64.
func (k Key) String() string { return SecretPrefix + base64.StdEncoding.EncodeToString(k) }

// NewSecret returns a fresh random secret in its text form.
func NewSecret() (string, error) {
	k := make(Key, NewKeyBytes)
	if _, err := rand.Read(k); err != nil {
		return "", fmt.Errorf("stdwebhooks: random secret: %w", err)
	}
	return k.String(), nil
}

// Sign returns the webhook-signature value of a message: one "v1,<base64>"
// per key, space-separated, in the order given (at least one key).
func Sign(id string, ts time.Time, body []byte, keys ...Key) (string, error) {
	if len(keys) == 0 {
		return "", errors.New("stdwebhooks: no key to sign with")
	}
	sigs := make([]string, len(keys))
	for i, k := range keys {
		wh, err := standardwebhooks.NewWebhookRaw(k)
		if err != nil {
			return "", fmt.Errorf("stdwebhooks: %w", err)
		}
		if sigs[i], err = wh.Sign(id, ts, body); err != nil {
			return "", fmt.Errorf("stdwebhooks: sign: %w", err)
		}
	}
	return strings.Join(sigs, " "), nil
}

// SetHeaders signs body as message id at ts with every key and sets the
// three headers on h.
func SetHeaders(h http.Header, id string, ts time.Time, body []byte, keys ...Key) error {
	sig, err := Sign(id, ts, body, keys...)
	if err != nil {
		return err
	}
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderSignature, sig)
	return nil
}

// Verify checks a received request: its timestamp within Tolerance of now,
// and one of its signatures made by one of keys over the body exactly as
// received. Errors wrap the sentinels above.
func Verify(body []byte, h http.Header, now time.Time, keys ...Key) error {
	id, ts, sig := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	if id == "" || ts == "" || sig == "" {
		return ErrMissingHeaders
	}
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return ErrInvalidTimestamp
	}
	switch t := time.Unix(secs, 0); {
	case now.Sub(t) > Tolerance:
		return ErrTooOld
	case t.Sub(now) > Tolerance:
		return ErrTooNew
	}
	for _, k := range keys {
		wh, err := standardwebhooks.NewWebhookRaw(k)
		if err != nil {
			continue
		}
		// The timestamp was checked above against the caller's clock.
		if wh.VerifyIgnoringTimestamp(body, h) == nil {
			return nil
		}
	}
	return ErrNoMatch
}
