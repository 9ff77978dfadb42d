package workflow

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
)

// canonicalObject checks that raw is one JSON object and returns it in a
// canonical form (sorted keys, no insignificant space, numbers as written),
// so equal inputs hash equally however the client spaced them.
func canonicalObject(raw []byte) ([]byte, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return []byte("{}"), nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, invalid("input", "must be a JSON object")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, invalid("input", "must be a single JSON object")
	}
	if _, ok := v.(map[string]any); !ok {
		return nil, invalid("input", "must be a JSON object")
	}
	out, err := json.Marshal(v)
	if err != nil {
		return nil, invalid("input", "must be a JSON object")
	}
	// Postgres jsonb cannot hold U+0000 in strings.
	if bytes.Contains(out, []byte(`\u0000`)) {
		return nil, invalid("input", "must not contain NUL characters")
	}
	return out, nil
}

// requestHash identifies a run request for idempotency: the workflow and the
// canonical input. Sync and async requests with one key are the same request.
func requestHash(slug string, canonicalInput []byte) []byte {
	h := sha256.New()
	h.Write([]byte(slug))
	h.Write([]byte{0})
	h.Write(canonicalInput)
	return h.Sum(nil)
}
