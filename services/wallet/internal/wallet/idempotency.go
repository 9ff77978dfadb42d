package wallet

import (
	"time"

	"github.com/google/uuid"

	"github.com/meterflow/meterflow/platform/idempotency"
)

// IdempotencyKey names one idempotency record.
type IdempotencyKey struct {
	UserID uuid.UUID
	Scope  string
	Key    string
}

// KeyedRequest is a request under an Idempotency-Key, as the store records
// it (BeginIdempotent, Adjust).
type KeyedRequest struct {
	IdempotencyKey
	// RequestHash fingerprints the request (idempotency.Hash).
	RequestHash []byte
	// ResourceID is the id the new request will create; a request taking
	// over an abandoned one gets the first request's id back instead.
	ResourceID uuid.UUID
	// Now is when the request began, on the wallet's clock: the store
	// writes it as the record's created_at (when new or renewed) and
	// updated_at (when claimed), the times the two limits below compare.
	Now time.Time
	// ExpiredBefore: a record created before this is forgotten.
	ExpiredBefore time.Time
	// StaleBefore: a record still processing since before this is abandoned.
	StaleBefore time.Time
}

// StoredKey is the record the store holds (and has locked) for a key.
type StoredKey struct {
	idempotency.Record
	// ResourceID is what the first request created (or is creating).
	ResourceID uuid.UUID
	// Response is the stored answer of a completed request, if it kept one.
	Response []byte
}

// KeyState says how a keyed request goes on.
type KeyState struct {
	// Replay: the first request completed. Its answer is Response (top-ups)
	// or the resource ResourceID (adjustments); nothing is done again.
	Replay   bool
	Response []byte
	// ResourceID is the id to create, or the one created when replayed.
	ResourceID uuid.UUID
	// Claim: the request takes the stored record over and runs; the store
	// writes it as processing with RequestHash and ResourceID. Renew: the
	// record had expired and restarts its retention from now.
	Claim bool
	Renew bool
}

// keyedRequest builds the record of a request under key from the
// service's clock and retention settings.
func (s *Service) keyedRequest(key IdempotencyKey, hash []byte, resourceID uuid.UUID) KeyedRequest {
	now := s.now()
	return KeyedRequest{
		IdempotencyKey: key, RequestHash: hash, ResourceID: resourceID, Now: now,
		ExpiredBefore: now.Add(-s.cfg.IdempotencyTTL), StaleBefore: now.Add(-s.cfg.IdempotencyStale),
	}
}

// Decide applies the contract's rules (idempotency.Decide) to the record
// stored under r's key: a repeat of a completed request is replayed,
// another request under the key is idempotency.ErrKeyReused, one still
// running idempotency.ErrInProgress. An expired record starts afresh with
// r's own resource; an abandoned one (processing past the stale limit) is
// taken over with the first request's resource id, so that a top-up's
// takeover gets Stripe's first session back.
func (r KeyedRequest) Decide(stored StoredKey) (KeyState, error) {
	d, err := idempotency.Decide(stored.Record, r.RequestHash, r.ExpiredBefore, r.StaleBefore)
	switch {
	case err != nil:
		return KeyState{}, err
	case d == idempotency.Replay:
		return KeyState{Replay: true, Response: stored.Response, ResourceID: stored.ResourceID}, nil
	case stored.CreatedAt.Before(r.ExpiredBefore):
		return KeyState{Claim: true, Renew: true, ResourceID: r.ResourceID}, nil
	case stored.ResourceID == uuid.Nil:
		return KeyState{Claim: true, ResourceID: r.ResourceID}, nil
	}
	return KeyState{Claim: true, ResourceID: stored.ResourceID}, nil
}
