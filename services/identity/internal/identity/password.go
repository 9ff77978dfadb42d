package identity

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"

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
	h.dummy = dummyHash(h.params)
	return h, nil
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
