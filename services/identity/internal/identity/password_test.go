package identity

import (
	"testing"

	"github.com/alexedwards/argon2id"
)

// The dummy hash must decode with the configured parameters, or unknown
// emails would be checked at a different cost than real ones.
func TestDummyHashParses(t *testing.T) {
	h, err := NewHasher(DefaultArgon2Params)
	if err != nil {
		t.Fatal(err)
	}
	p, _, _, err := argon2id.DecodeHash(h.dummy)
	if err != nil || p.Memory != DefaultArgon2Params.MemoryKiB || p.Iterations != 2 || p.Parallelism != 1 || p.SaltLength != 16 || p.KeyLength != 32 {
		t.Fatalf("dummy %q: %+v %v", h.dummy, p, err)
	}
	if h.Check("anything", "") {
		t.Fatal("dummy matched")
	}
}
