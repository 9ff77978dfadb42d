package secretbox

import (
	"bytes"
	"errors"
	"testing"
)

func TestSealOpen(t *testing.T) {
	t.Parallel()
	key := bytes.Repeat([]byte{7}, KeySize)
	b, err := New(key)
	if err != nil {
		t.Fatal(err)
	}
	s1, err := b.Seal([]byte("hunter2"), "slug-a")
	if err != nil {
		t.Fatal(err)
	}
	s2, _ := b.Seal([]byte("hunter2"), "slug-a")
	if bytes.Equal(s1, s2) {
		t.Fatal("two seals of one value are equal: nonce not random")
	}
	if bytes.Contains(s1, []byte("hunter2")) {
		t.Fatal("plaintext visible in sealed value")
	}
	got, err := b.Open(s1, "slug-a")
	if err != nil || string(got) != "hunter2" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	other, _ := New(bytes.Repeat([]byte{8}, KeySize))
	tampered := append([]byte(nil), s1...)
	tampered[len(tampered)-1] ^= 1
	tests := []struct {
		name   string
		box    *Box
		sealed []byte
		ctx    string
	}{
		{"other context", b, s1, "slug-b"},
		{"other key", other, s1, "slug-a"},
		{"tampered", b, tampered, "slug-a"},
		{"short", b, s1[:5], "slug-a"},
	}
	for _, tt := range tests {
		if _, err := tt.box.Open(tt.sealed, tt.ctx); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: err = %v, want ErrCorrupt", tt.name, err)
		}
	}
}

func TestParseKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in string
		ok bool
	}{
		{"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", true},
		{"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", true},
		{"AAAA", false},
		{"not base64!!", false},
	}
	for _, tt := range tests {
		if _, err := ParseKey(tt.in); (err == nil) != tt.ok {
			t.Errorf("ParseKey(%q) err = %v, want ok=%v", tt.in, err, tt.ok)
		}
	}
}
