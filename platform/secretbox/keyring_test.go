package secretbox_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/meterflow/meterflow/platform/secretbox"
)

func key(b byte) []byte { return bytes.Repeat([]byte{b}, secretbox.KeySize) }

// TestKeyringRotation: values sealed under an old key (with or without a
// key id) still open once a new key is current and the old one is kept as
// previous; new values are sealed with the new key; a value whose key left
// the ring does not open (regression: WORKFLOW_SECRETS_KEY could not be
// rotated without losing every stored credential).
func TestKeyringRotation(t *testing.T) {
	t.Parallel()
	oldKey, newKey := key(1), key(2)
	legacyBox, _ := secretbox.New(oldKey)
	legacy, err := legacyBox.Seal([]byte("legacy"), "ctx")
	if err != nil {
		t.Fatal(err)
	}
	before, _ := secretbox.NewKeyring(oldKey)
	sealedOld, err := before.Seal([]byte("old"), "ctx")
	if err != nil {
		t.Fatal(err)
	}
	if !before.SealedWithCurrent(sealedOld) || before.SealedWithCurrent(legacy) {
		t.Fatal("SealedWithCurrent does not tell a keyed value from a legacy one")
	}

	during, err := secretbox.NewKeyring(newKey, oldKey)
	if err != nil {
		t.Fatal(err)
	}
	sealedNew, _ := during.Seal([]byte("new"), "ctx")
	for name, tc := range map[string]struct {
		sealed []byte
		want   string
	}{
		"legacy value": {legacy, "legacy"},
		"old key":      {sealedOld, "old"},
		"new key":      {sealedNew, "new"},
	} {
		got, err := during.Open(tc.sealed, "ctx")
		if err != nil || string(got) != tc.want {
			t.Errorf("%s: %q, %v", name, got, err)
		}
	}
	if during.SealedWithCurrent(sealedOld) || !during.SealedWithCurrent(sealedNew) {
		t.Error("the old key's value counts as current, or the new one's does not")
	}
	if _, err := during.Open(sealedNew, "other ctx"); !errors.Is(err, secretbox.ErrCorrupt) {
		t.Errorf("opened with another context: %v", err)
	}

	after, _ := secretbox.NewKeyring(newKey)
	if _, err := after.Open(sealedOld, "ctx"); !errors.Is(err, secretbox.ErrCorrupt) {
		t.Errorf("a value of a key no longer in the ring opened: %v", err)
	}
	if got, err := after.Open(sealedNew, "ctx"); err != nil || string(got) != "new" {
		t.Errorf("new key after rotation: %q, %v", got, err)
	}
	if during.CurrentID() != secretbox.KeyID(newKey) || len(during.CurrentID()) != 16 {
		t.Errorf("CurrentID %q", during.CurrentID())
	}
	if _, err := secretbox.NewKeyring(newKey, newKey); err == nil {
		t.Error("the same key twice was accepted")
	}
	if _, err := secretbox.NewKeyring(newKey, []byte("short")); err == nil {
		t.Error("a short previous key was accepted")
	}
}
