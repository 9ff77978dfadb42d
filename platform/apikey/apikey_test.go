package apikey

import (
	"hash/crc32"
	"strings"
	"testing"
)

func TestNewIsWellFormed(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		k := New()
		if len(k) != 50 {
			t.Fatalf("len(%q) = %d, want 50", k, len(k))
		}
		if err := Check(k); err != nil {
			t.Fatalf("Check(New()) = %v for %q", err, k)
		}
		if seen[k] {
			t.Fatalf("duplicate key %q", k)
		}
		seen[k] = true
	}
}

// TestChecksumIsCRC32OfTheRest pins the format against an independent
// computation, so that scanners written from the documentation agree.
func TestChecksumIsCRC32OfTheRest(t *testing.T) {
	k := New()
	body, sum := k[:44], k[44:]
	var v uint64
	for _, c := range sum {
		v = v*62 + uint64(strings.IndexRune(alphabet, c))
	}
	if uint32(v) != crc32.ChecksumIEEE([]byte(body)) || v > 1<<32 {
		t.Fatalf("checksum %q = %d, want CRC32 %d of %q", sum, v, crc32.ChecksumIEEE([]byte(body)), body)
	}
	// A known value: CRC32("mfk_" + 40 zeros).
	zeros := "mfk_" + strings.Repeat("0", 40)
	if got, want := checksum(zeros), base62(crc32.ChecksumIEEE([]byte(zeros))); got != want {
		t.Fatalf("checksum = %q, want %q", got, want)
	}
}

func base62(v uint32) string {
	out := ""
	for range 6 {
		out = string(alphabet[v%62]) + out
		v /= 62
	}
	return out
}

func TestCheck(t *testing.T) {
	good := New()
	flip := func(i int) string {
		b := []byte(good)
		if b[i] == 'a' {
			b[i] = 'b'
		} else {
			b[i] = 'a'
		}
		return string(b)
	}
	for _, tc := range []struct {
		name string
		key  string
		want error
	}{
		{"good", good, nil},
		{"empty", "", ErrMalformed},
		{"prefix only", "mfk_", ErrMalformed},
		{"one short", good[:49], ErrMalformed},
		{"one long", good + "a", ErrMalformed},
		{"other prefix", "mfx_" + good[4:], ErrMalformed},
		{"not base62", good[:10] + "-" + good[11:], ErrMalformed},
		{"not ASCII", good[:10] + "é" + good[12:], ErrMalformed},
		{"typo in the body", flip(20), ErrChecksum},
		{"typo in the checksum", flip(47), ErrChecksum},
		{"a JWT", "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2ln", ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Check(tc.key); got != tc.want {
				t.Fatalf("Check(%q) = %v, want %v", tc.key, got, tc.want)
			}
		})
	}
}

func TestDisplayPrefixAndHash(t *testing.T) {
	k := New()
	if p := DisplayPrefix(k); p != k[:12] || !strings.HasPrefix(p, "mfk_") {
		t.Fatalf("DisplayPrefix = %q", p)
	}
	if len(Hash(k)) != 32 || string(Hash(k)) == string(Hash(New())) {
		t.Fatal("Hash is not a per-key SHA-256")
	}
}

func TestScopes(t *testing.T) {
	for _, s := range Scopes() {
		if !ValidScope(s) {
			t.Fatalf("ValidScope(%q) = false", s)
		}
	}
	for _, s := range []string{"", "admin", "runs:*", "Runs:read"} {
		if ValidScope(s) {
			t.Fatalf("ValidScope(%q) = true", s)
		}
	}
}

func BenchmarkCheck(b *testing.B) {
	k := New()
	for b.Loop() {
		if Check(k) != nil {
			b.Fatal("bad")
		}
	}
}
