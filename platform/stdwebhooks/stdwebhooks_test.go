package stdwebhooks_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/meterflow/meterflow/platform/stdwebhooks"
)

// The specification's example (also the official libraries' test vector).
const (
	vectorSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vectorID        = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vectorTimestamp = 1614265330
	vectorBody      = `{"test": 2432232314}`
	vectorSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func mustKey(t *testing.T, s string) stdwebhooks.Key {
	t.Helper()
	k, err := stdwebhooks.ParseSecret(s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSignMatchesTheSpecificationsVector(t *testing.T) {
	t.Parallel()
	got, err := stdwebhooks.Sign(vectorID, time.Unix(vectorTimestamp, 0), []byte(vectorBody), mustKey(t, vectorSecret))
	if err != nil {
		t.Fatal(err)
	}
	if got != vectorSignature {
		t.Fatalf("signature = %q, want %q", got, vectorSignature)
	}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	key := mustKey(t, vectorSecret)
	other, err := stdwebhooks.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	otherKey := mustKey(t, other)
	at := time.Unix(vectorTimestamp, 0)
	headers := func(mod func(http.Header)) http.Header {
		h := http.Header{}
		h.Set("webhook-id", vectorID)
		h.Set("webhook-timestamp", "1614265330")
		h.Set("webhook-signature", vectorSignature)
		if mod != nil {
			mod(h)
		}
		return h
	}
	tests := []struct {
		name string
		body string
		h    http.Header
		now  time.Time
		keys []stdwebhooks.Key
		want error
	}{
		{"the vector", vectorBody, headers(nil), at, []stdwebhooks.Key{key}, nil},
		{"second key of two", vectorBody, headers(nil), at, []stdwebhooks.Key{otherKey, key}, nil},
		{"one of two signatures", vectorBody, headers(func(h http.Header) { h.Set("webhook-signature", "v1,bm90IGl0 "+vectorSignature) }), at, []stdwebhooks.Key{key}, nil},
		{"4:59 late", vectorBody, headers(nil), at.Add(4*time.Minute + 59*time.Second), []stdwebhooks.Key{key}, nil},
		{"body changed", vectorBody + " ", headers(nil), at, []stdwebhooks.Key{key}, stdwebhooks.ErrNoMatch},
		{"id changed", vectorBody, headers(func(h http.Header) { h.Set("webhook-id", "msg_other") }), at, []stdwebhooks.Key{key}, stdwebhooks.ErrNoMatch},
		{"wrong key", vectorBody, headers(nil), at, []stdwebhooks.Key{otherKey}, stdwebhooks.ErrNoMatch},
		{"v2 is not v1", vectorBody, headers(func(h http.Header) { h.Set("webhook-signature", strings.Replace(vectorSignature, "v1,", "v2,", 1)) }), at, []stdwebhooks.Key{key}, stdwebhooks.ErrNoMatch},
		{"too old", vectorBody, headers(nil), at.Add(5*time.Minute + time.Second), []stdwebhooks.Key{key}, stdwebhooks.ErrTooOld},
		{"too new", vectorBody, headers(nil), at.Add(-5*time.Minute - time.Second), []stdwebhooks.Key{key}, stdwebhooks.ErrTooNew},
		{"bad timestamp", vectorBody, headers(func(h http.Header) { h.Set("webhook-timestamp", "1614265330.5") }), at, []stdwebhooks.Key{key}, stdwebhooks.ErrInvalidTimestamp},
		{"no id", vectorBody, headers(func(h http.Header) { h.Del("webhook-id") }), at, []stdwebhooks.Key{key}, stdwebhooks.ErrMissingHeaders},
		{"no signature", vectorBody, headers(func(h http.Header) { h.Del("webhook-signature") }), at, []stdwebhooks.Key{key}, stdwebhooks.ErrMissingHeaders},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := stdwebhooks.Verify([]byte(tc.body), tc.h, tc.now, tc.keys...)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Verify = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestSetHeadersRoundTrip(t *testing.T) {
	t.Parallel()
	s1, _ := stdwebhooks.NewSecret()
	s2, _ := stdwebhooks.NewSecret()
	k1, k2 := mustKey(t, s1), mustKey(t, s2)
	now := time.Now()
	h := http.Header{}
	body := []byte(`{"a":1}`)
	if err := stdwebhooks.SetHeaders(h, "0190e2a4-run", now, body, k1, k2); err != nil {
		t.Fatal(err)
	}
	if got := len(strings.Fields(h.Get("webhook-signature"))); got != 2 {
		t.Fatalf("%d signatures, want 2: %q", got, h.Get("webhook-signature"))
	}
	for _, k := range []stdwebhooks.Key{k1, k2} {
		if err := stdwebhooks.Verify(body, h, now, k); err != nil {
			t.Fatalf("Verify with one of the signing keys: %v", err)
		}
	}
	if _, err := stdwebhooks.Sign("id", now, body); err == nil {
		t.Fatal("Sign without a key succeeded")
	}
}

func TestParseSecret(t *testing.T) {
	t.Parallel()
	fresh, err := stdwebhooks.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		secret string
		ok     bool
	}{
		{vectorSecret, true},
		{fresh, true},
		{"whsec_" + strings.Repeat("A", 32), true},          // 24 bytes
		{"whsec_" + strings.Repeat("A", 84), true},          // 63 bytes
		{"whsec_" + strings.Repeat("A", 88), false},         // 66 bytes
		{"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", false},         // no prefix
		{"whsec_", false},                                   // empty
		{"whsec_" + strings.Repeat("A", 28), false},         // 21 bytes
		{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw==", false}, // bad padding
		{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLa-w", false},   // URL alphabet
	}
	for _, tc := range tests {
		k, err := stdwebhooks.ParseSecret(tc.secret)
		if (err == nil) != tc.ok {
			t.Errorf("ParseSecret(%q) = %v, want ok=%v", tc.secret, err, tc.ok)
		}
		if err == nil && k.String() != tc.secret {
			t.Errorf("String() = %q, want %q", k.String(), tc.secret)
		}
	}
}
