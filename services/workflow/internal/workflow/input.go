package workflow

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/meterflow/meterflow/platform/validation"
)

// canonicalObject checks that raw is one JSON object of at most
// MaxInputBytes and returns it in a canonical form (sorted keys, no
// insignificant space, numbers as written), so equal inputs hash equally
// however the client spaced them.
func canonicalObject(raw []byte) ([]byte, error) {
	if len(raw) > MaxInputBytes {
		return nil, validation.Field("input", "must be at most 262144 bytes (256 KiB) of JSON")
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return []byte("{}"), nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, validation.Field("input", "must be a JSON object")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, validation.Field("input", "must be a single JSON object")
	}
	if _, ok := v.(map[string]any); !ok {
		return nil, validation.Field("input", "must be a JSON object")
	}
	if !numbersFit(v) {
		return nil, validation.Field("input", "has a number too long or out of range")
	}
	out, err := json.Marshal(v)
	if err != nil {
		return nil, validation.Field("input", "must be a JSON object")
	}
	// Postgres jsonb cannot hold U+0000 in strings.
	if bytes.Contains(out, []byte(`\u0000`)) {
		return nil, validation.Field("input", "must not contain NUL characters")
	}
	return out, nil
}

// Bounds of the numbers an input may hold: Postgres numeric, behind the
// jsonb column, overflows past about 1e131072 and below 1e-16383 (the insert
// would fail with a server error), and no workflow needs such numbers.
const (
	maxNumberBytes    = 1000
	maxNumberExponent = 1000
)

// numbersFit reports whether every number in a decoded value (UseNumber)
// is at most maxNumberBytes long with a decimal exponent of at most
// maxNumberExponent.
func numbersFit(v any) bool {
	switch x := v.(type) {
	case json.Number:
		n := string(x)
		if len(n) > maxNumberBytes {
			return false
		}
		e := strings.IndexAny(n, "eE")
		if e < 0 {
			return true
		}
		exp := strings.TrimLeft(strings.TrimLeft(n[e+1:], "+-"), "0")
		if len(exp) > 4 {
			return false
		}
		d, err := strconv.Atoi("0" + exp)
		return err == nil && d <= maxNumberExponent
	case map[string]any:
		for _, e := range x {
			if !numbersFit(e) {
				return false
			}
		}
	case []any:
		for _, e := range x {
			if !numbersFit(e) {
				return false
			}
		}
	}
	return true
}

// canonicalValue checks that raw is one JSON value of at most max bytes
// that Postgres jsonb can hold, and returns it in canonical form (sorted
// keys, no insignificant space; invalid UTF-8 and lone surrogates become
// U+FFFD). It returns what is wrong in words for the field, or "".
func canonicalValue(raw []byte, max int) ([]byte, string) {
	if len(raw) > max {
		return nil, fmt.Sprintf("must be at most %d bytes of JSON", max)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, "must be JSON"
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, "must be a single JSON value"
	}
	if !numbersFit(v) {
		return nil, "has a number too long or out of range"
	}
	out, err := json.Marshal(v)
	if err != nil {
		return nil, "must be JSON"
	}
	if bytes.Contains(out, []byte(`\u0000`)) {
		return nil, "must not contain NUL characters"
	}
	return out, ""
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
