package identity

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"sync"
	"time"

	"github.com/alexedwards/argon2id"
	"golang.org/x/crypto/argon2"
)

// Argon2Params are the argon2id cost parameters of new password hashes.
// Existing hashes keep the parameters encoded in them.
type Argon2Params struct {
	MemoryKiB   uint32
	Iterations  uint32
	Parallelism uint8
}

// DefaultArgon2Params is OWASP's minimum recommendation for argon2id
// (19 MiB, 2 iterations, 1 lane).
var DefaultArgon2Params = Argon2Params{MemoryKiB: 19456, Iterations: 2, Parallelism: 1}

// Hasher hashes and checks passwords with argon2id, at most a fixed number
// at a time.
type Hasher struct {
	params *argon2id.Params
	// dummy is a hash of a random password made with the same parameters:
	// checking an unknown email against it costs what a real check costs.
	dummy string
	// slots bounds concurrent hashes: each holds MemoryKiB and a core for
	// tens of milliseconds, so a burst of logins would otherwise take the
	// process's memory and every core's time at once.
	slots chan struct{}
}

// Waiting for a hashing slot: a caller without a deadline waits at most
// maxSlotWait; one with a deadline stops slotReserve before it, so that the
// retryable refusal reaches it before its own deadline turns the call into
// a timeout.
const (
	maxSlotWait = 5 * time.Second
	slotReserve = 100 * time.Millisecond
)

// NewHasher returns a Hasher for p that runs at most maxConcurrent hashes
// at once (at least 1).
func NewHasher(p Argon2Params, maxConcurrent int) (*Hasher, error) {
	if p.MemoryKiB < 8*uint32(p.Parallelism) || p.Iterations < 1 || p.Parallelism < 1 {
		return nil, fmt.Errorf("identity: invalid argon2 parameters (memory %d KiB, iterations %d, parallelism %d)", p.MemoryKiB, p.Iterations, p.Parallelism)
	}
	h := &Hasher{params: &argon2id.Params{
		Memory: p.MemoryKiB, Iterations: p.Iterations, Parallelism: p.Parallelism,
		SaltLength: 16, KeyLength: 32,
	}, slots: make(chan struct{}, max(1, maxConcurrent))}
	h.dummy = dummyHash(h.params)
	return h, nil
}

// Acquire waits for a hashing slot and returns the function that frees it
// (calling it again does nothing). It gives up with ErrBusy shortly before
// ctx's deadline (or after maxSlotWait without one), and with ctx's error
// when ctx is canceled.
func (h *Hasher) Acquire(ctx context.Context) (release func(), err error) {
	var once sync.Once
	release = func() { once.Do(func() { <-h.slots }) }
	select {
	case h.slots <- struct{}{}:
		return release, nil
	default:
	}
	wait := maxSlotWait
	if dl, ok := ctx.Deadline(); ok {
		wait = min(wait, time.Until(dl)-slotReserve)
	}
	if wait <= 0 {
		return nil, ErrBusy
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case h.slots <- struct{}{}:
		return release, nil
	case <-timer.C:
		return nil, ErrBusy
	case <-ctx.Done():
		if ctx.Err() == context.DeadlineExceeded {
			return nil, ErrBusy
		}
		return nil, ctx.Err()
	}
}

// dummyHash returns an encoded argon2id hash with params and a random salt
// and key. Checking a password against it runs argon2id with params exactly
// as a real check does (the key never matches), and building it costs
// nothing: computing a real hash at start would hold MemoryKiB of heap for
// no use (it was most of the idle process's memory).
func dummyHash(p *argon2id.Params) string {
	salt := make([]byte, p.SaltLength)
	key := make([]byte, p.KeyLength)
	_, _ = rand.Read(salt) // crypto/rand.Read never fails
	_, _ = rand.Read(key)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Iterations, p.Parallelism,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// Hash returns the encoded argon2id hash of password, waiting for a slot
// as Acquire does.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	release, err := h.Acquire(ctx)
	if err != nil {
		return "", err
	}
	defer release()
	return h.hash(password)
}

// hash hashes password; the caller holds a slot.
func (h *Hasher) hash(password string) (string, error) {
	s, err := argon2id.CreateHash(password, h.params)
	if err != nil {
		return "", fmt.Errorf("identity: hash password: %w", err)
	}
	return s, nil
}

// check reports whether password matches hash; the caller holds a slot.
// An empty hash is checked against the dummy hash, so that unknown
// accounts cost the same time.
func (h *Hasher) check(password, hash string) bool {
	if hash == "" {
		_, _ = argon2id.ComparePasswordAndHash(password, h.dummy)
		return false
	}
	ok, err := argon2id.ComparePasswordAndHash(password, hash)
	return err == nil && ok
}
