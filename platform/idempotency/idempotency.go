// Package idempotency holds the rules of the Idempotency-Key header that
// are the same in every service (the contract's "Conventions"): which keys
// are valid, how a request is fingerprinted, and what a repeated key means.
// Each service stores its keys its own way (the wallet in a table of its
// own, the workflow service on the run row) and decides with these.
package idempotency

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"time"
	"unicode"

	"github.com/meterflow/meterflow/platform/validation"
)

// MaxKeyLen is the longest key the contract accepts (1–255 characters).
const MaxKeyLen = 255

// The two answers to a repeated key that are not a replay. Services map
// them to 422 idempotency_key_reused and 409 request_in_progress.
var (
	// ErrKeyReused: the key was used with a different request.
	ErrKeyReused = errors.New("idempotency key reused with a different request")
	// ErrInProgress: the first request with this key is still being processed.
	ErrInProgress = errors.New("a request with this idempotency key is still in progress")
)

// CheckKey validates a key: 1–255 printable ASCII characters. "" is valid
// for callers where the key is optional; required keys check emptiness
// themselves. Errors are validation errors on the field "idempotency_key".
func CheckKey(k string) error {
	if len(k) > MaxKeyLen {
		return validation.Field("idempotency_key", "must be 1-255 characters")
	}
	for _, c := range k {
		if c > unicode.MaxASCII || !unicode.IsPrint(c) {
			return validation.Field("idempotency_key", "must be printable ASCII")
		}
	}
	return nil
}

// Hash fingerprints a request from its parts (strings length-prefixed,
// integers big-endian), so that two requests compare equal only when every
// part does.
func Hash(parts ...any) []byte {
	h := sha256.New()
	for _, p := range parts {
		writePart(h, p)
	}
	return h.Sum(nil)
}

func writePart(h hash.Hash, p any) {
	switch v := p.(type) {
	case string:
		_ = binary.Write(h, binary.BigEndian, int64(len(v)))
		h.Write([]byte(v))
	case int64:
		_ = binary.Write(h, binary.BigEndian, v)
	default:
		fmt.Fprintf(h, "%T:%v", v, v)
	}
}

// Record is what a service stored for a key it has seen.
type Record struct {
	RequestHash []byte
	// Completed: the first request finished and its answer is stored.
	Completed bool
	CreatedAt time.Time
	// UpdatedAt is when the first request last claimed the key.
	UpdatedAt time.Time
}

// Decision is what a repeated key means.
type Decision int

// The outcomes of Decide.
const (
	// Replay: answer with the stored response, do nothing again.
	Replay Decision = iota + 1
	// Claim: the record has expired, or its request was abandoned while
	// processing: the new request takes the key over and runs.
	Claim
)

// Decide applies the contract to a key that is already stored: a record
// created before expiredBefore is forgotten (Claim); another request under
// the same key is ErrKeyReused; a completed one is replayed; one still
// processing is ErrInProgress, unless it last moved before staleBefore
// (its process died), which is Claim.
func Decide(r Record, requestHash []byte, expiredBefore, staleBefore time.Time) (Decision, error) {
	switch {
	case r.CreatedAt.Before(expiredBefore):
		return Claim, nil
	case string(r.RequestHash) != string(requestHash):
		return 0, ErrKeyReused
	case r.Completed:
		return Replay, nil
	case r.UpdatedAt.Before(staleBefore):
		return Claim, nil
	}
	return 0, ErrInProgress
}
