package identity

import (
	"fmt"

	"github.com/alexedwards/argon2id"
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

// Hasher hashes and checks passwords with argon2id.
type Hasher struct {
	params *argon2id.Params
	// dummy is a hash of a random password made with the same parameters:
	// checking an unknown email against it costs what a real check costs.
	dummy string
}

// NewHasher returns a Hasher for p.
func NewHasher(p Argon2Params) (*Hasher, error) {
	if p.MemoryKiB < 8*uint32(p.Parallelism) || p.Iterations < 1 || p.Parallelism < 1 {
		return nil, fmt.Errorf("identity: invalid argon2 parameters (memory %d KiB, iterations %d, parallelism %d)", p.MemoryKiB, p.Iterations, p.Parallelism)
	}
	h := &Hasher{params: &argon2id.Params{
		Memory: p.MemoryKiB, Iterations: p.Iterations, Parallelism: p.Parallelism,
		SaltLength: 16, KeyLength: 32,
	}}
	dummy, err := argon2id.CreateHash(randomToken(), h.params)
	if err != nil {
		return nil, fmt.Errorf("identity: dummy hash: %w", err)
	}
	h.dummy = dummy
	return h, nil
}

// Hash returns the encoded argon2id hash of password.
func (h *Hasher) Hash(password string) (string, error) {
	s, err := argon2id.CreateHash(password, h.params)
	if err != nil {
		return "", fmt.Errorf("identity: hash password: %w", err)
	}
	return s, nil
}

// Check reports whether password matches hash. An empty hash is checked
// against the dummy hash, so that unknown accounts cost the same time.
func (h *Hasher) Check(password, hash string) bool {
	if hash == "" {
		_, _ = argon2id.ComparePasswordAndHash(password, h.dummy)
		return false
	}
	ok, err := argon2id.ComparePasswordAndHash(password, hash)
	return err == nil && ok
}
