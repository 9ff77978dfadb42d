package identity

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/alexedwards/argon2id"
)

// The dummy hash must decode with the configured parameters, or unknown
// emails would be checked at a different cost than real ones.
func TestDummyHashParses(t *testing.T) {
	h, err := NewHasher(DefaultArgon2Params, 1)
	if err != nil {
		t.Fatal(err)
	}
	p, _, _, err := argon2id.DecodeHash(h.dummy)
	if err != nil || p.Memory != DefaultArgon2Params.MemoryKiB || p.Iterations != 2 || p.Parallelism != 1 || p.SaltLength != 16 || p.KeyLength != 32 {
		t.Fatalf("dummy %q: %+v %v", h.dummy, p, err)
	}
	if h.check("anything", "") {
		t.Fatal("dummy matched")
	}
}

// TestHasherBusy: with every hashing slot taken, a caller waits until just
// before its deadline and then gets the retryable ErrBusy; a caller that
// gives up gets its own error; a freed slot serves the next caller.
func TestHasherBusy(t *testing.T) {
	t.Parallel()
	h, err := NewHasher(Argon2Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1}, 1)
	if err != nil {
		t.Fatal(err)
	}
	release, err := h.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := h.Hash(ctx, "password"); !errors.Is(err, ErrBusy) {
		t.Fatalf("Hash with no free slot = %v, want ErrBusy", err)
	}
	if ctx.Err() != nil {
		t.Fatal("the refusal came after the caller's deadline")
	}
	short, cancelShort := context.WithTimeout(context.Background(), slotReserve/2)
	defer cancelShort()
	if _, err := h.Hash(short, "password"); !errors.Is(err, ErrBusy) {
		t.Fatalf("Hash with less time than the reserve = %v, want ErrBusy at once", err)
	}
	gone, cancelGone := context.WithCancel(context.Background())
	cancelGone()
	if _, err := h.Hash(gone, "password"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Hash for a caller that left = %v, want context.Canceled", err)
	}
	release()
	release() // a second call frees nothing more
	if _, err := h.Hash(context.Background(), "password"); err != nil {
		t.Fatalf("Hash with a free slot: %v", err)
	}
	if len(h.slots) != 0 {
		t.Fatalf("%d slots still taken", len(h.slots))
	}
}
