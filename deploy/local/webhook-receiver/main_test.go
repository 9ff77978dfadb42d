package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// The Standard Webhooks specification's own example: a receiver that
// verifies it verifies what every library signs.
const (
	specSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	specID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	specTS     = "1614265330"
	specBody   = `{"test": 2432232314}`
	specSig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func TestReceiverVerifies(t *testing.T) {
	t.Parallel()
	key, err := decodeSecret(specSecret)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := decodeSecret("whsec_" + strings.Repeat("A", 44))
	at := time.Unix(1614265330, 0).Add(time.Minute)
	tests := []struct {
		name   string
		keys   [][]byte
		sig    string
		ts     string
		now    time.Time
		status int
	}{
		{"the spec's example", [][]byte{key}, specSig, specTS, at, http.StatusNoContent},
		{"two signatures, the second ours", [][]byte{key}, "v1,AAAA " + specSig, specTS, at, http.StatusNoContent},
		{"the previous secret", [][]byte{other, key}, specSig, specTS, at, http.StatusNoContent},
		{"wrong secret", [][]byte{other}, specSig, specTS, at, http.StatusUnauthorized},
		{"stale", [][]byte{key}, specSig, specTS, at.Add(time.Hour), http.StatusUnauthorized},
		{"no signature", [][]byte{key}, "", specTS, at, http.StatusUnauthorized},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := handler(tc.keys, func() time.Time { return tc.now })
			req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(specBody))
			req.Header.Set("webhook-id", specID)
			req.Header.Set("webhook-timestamp", tc.ts)
			req.Header.Set("webhook-signature", tc.sig)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
		})
	}
}
