// Command webhook-receiver is a webhook endpoint for trying Meterflow's
// outgoing webhooks locally (README, "Receive webhooks locally"):
//
//	go run ./deploy/local/webhook-receiver -secret whsec_...
//
// It listens on -addr (127.0.0.1:4000), checks every request's Standard
// Webhooks signature with the endpoint's secret (and -previous-secret,
// during a rotation), refuses unsigned, wrongly signed or stale requests
// with 401, answers 204 to good ones, skips a webhook-id it has already
// seen (deliveries are at least once) and prints each event. Standard
// library only, so it reads as a recipe for any receiver (docs/webhooks.md).
package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// tolerance is how far webhook-timestamp may be from this clock.
const tolerance = 5 * time.Minute

// maxBody bounds what is read of a request.
const maxBody = 1 << 20

func main() {
	addr := flag.String("addr", "127.0.0.1:4000", "listen address")
	secret := flag.String("secret", "", `the endpoint's signing secret, "whsec_..." (required)`)
	previous := flag.String("previous-secret", "", "the secret before a rotation, accepted too")
	flag.Parse()
	var keys [][]byte
	for _, s := range []string{*secret, *previous} {
		if s == "" {
			continue
		}
		k, err := decodeSecret(s)
		if err != nil {
			log.Fatalf("webhook-receiver: %v", err)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		fmt.Fprintln(os.Stderr, "webhook-receiver: -secret is required (the secret POST /v1/webhook-endpoints answered)")
		os.Exit(2)
	}
	log.Printf("listening on http://%s: create an endpoint with this URL", *addr)
	log.Fatal(http.ListenAndServe(*addr, handler(keys, time.Now)))
}

// handler verifies and prints each delivery.
func handler(keys [][]byte, now func() time.Time) http.Handler {
	var mu sync.Mutex
	seen := map[string]bool{}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
		if err != nil || r.Method != http.MethodPost {
			http.Error(w, "POST a webhook", http.StatusBadRequest)
			return
		}
		id := r.Header.Get("webhook-id")
		if err := verify(keys, id, r.Header.Get("webhook-timestamp"), r.Header.Get("webhook-signature"), body, now()); err != nil {
			log.Printf("refused %q: %v", id, err)
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		mu.Lock()
		dup := seen[id]
		seen[id] = true
		mu.Unlock()
		if dup {
			log.Printf("%s again (a retry of a delivery already handled): skipped", id)
			w.WriteHeader(http.StatusNoContent)
			return
		}
		var event struct {
			Type      string          `json:"type"`
			Timestamp string          `json:"timestamp"`
			Data      json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(body, &event); err != nil {
			http.Error(w, "not a JSON event", http.StatusBadRequest)
			return
		}
		fmt.Printf("%s %s at %s (signature verified)\n%s\n", id, event.Type, event.Timestamp, event.Data)
		w.WriteHeader(http.StatusNoContent)
	})
}

// decodeSecret turns "whsec_<base64>" into the HMAC key.
func decodeSecret(s string) ([]byte, error) {
	raw, ok := strings.CutPrefix(s, "whsec_")
	if !ok {
		return nil, errors.New(`a secret starts with "whsec_"`)
	}
	k, err := base64.StdEncoding.DecodeString(raw)
	if err != nil {
		return nil, fmt.Errorf("the secret after whsec_ is not base64: %w", err)
	}
	return k, nil
}

// verify checks the Standard Webhooks signature: the timestamp within
// tolerance, and one "v1,<base64>" of the header equal to the HMAC-SHA256
// of "id.timestamp.body" under one of keys (two during a rotation).
func verify(keys [][]byte, id, ts, header string, body []byte, now time.Time) error {
	if id == "" || ts == "" || header == "" {
		return errors.New("webhook-id, webhook-timestamp and webhook-signature are required")
	}
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errors.New("webhook-timestamp is not Unix seconds")
	}
	if d := now.Sub(time.Unix(secs, 0)); d > tolerance || d < -tolerance {
		return errors.New("webhook-timestamp is too far from now (a replay?)")
	}
	signed := []byte(id + "." + ts + "." + string(body))
	for _, k := range keys {
		mac := hmac.New(sha256.New, k)
		mac.Write(signed)
		want := mac.Sum(nil)
		for _, sig := range strings.Fields(header) {
			version, b64, ok := strings.Cut(sig, ",")
			if !ok || version != "v1" {
				continue
			}
			got, err := base64.StdEncoding.DecodeString(b64)
			if err == nil && hmac.Equal(got, want) {
				return nil
			}
		}
	}
	return errors.New("no signature matches the secret")
}
