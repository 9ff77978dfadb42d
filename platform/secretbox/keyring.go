package secretbox

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// keyedMagic starts every value a Keyring seals: "mfk" and format 1, then
// keyIDLen bytes of key id, then what Box.Seal returns. Values sealed by a
// bare Box before key ids existed have no such prefix: a Keyring still
// opens them with any of its keys (AES-GCM's tag tells the right one).
var keyedMagic = []byte{'m', 'f', 'k', 1}

// keyIDLen is the length of a key id in a sealed value (8 bytes, 16 hex
// characters in KeyID).
const keyIDLen = 8

// KeyID names a key without revealing it: the first 8 bytes of a SHA-256
// of the key, in hex. Operators see it in logs and in `reseal` output;
// rotation needs no naming scheme of its own, since the key decides it.
func KeyID(key []byte) string {
	return hex.EncodeToString(rawKeyID(key))
}

func rawKeyID(key []byte) []byte {
	h := sha256.Sum256(append([]byte("meterflow/secretbox/key-id\x00"), key...))
	return h[:keyIDLen]
}

// Keyring seals with its current key and opens what any of its keys
// sealed, so a key rotates without making stored values unreadable: the
// new key becomes current, the old one stays in the ring until every value
// is sealed again under the new one (see workflow's `reseal`).
type Keyring struct {
	current keyedBox
	all     []keyedBox // current first
}

type keyedBox struct {
	id  []byte
	box *Box
}

// NewKeyring returns a ring sealing with current and opening with current
// and previous (older keys, newest first).
func NewKeyring(current []byte, previous ...[]byte) (*Keyring, error) {
	k := &Keyring{}
	for i, key := range append([][]byte{current}, previous...) {
		box, err := New(key)
		if err != nil {
			if i == 0 {
				return nil, err
			}
			return nil, fmt.Errorf("previous key %d: %w", i, err)
		}
		kb := keyedBox{id: rawKeyID(key), box: box}
		for _, have := range k.all {
			if bytes.Equal(have.id, kb.id) {
				return nil, fmt.Errorf("secretbox: key %s is in the ring twice", KeyID(key))
			}
		}
		k.all = append(k.all, kb)
	}
	k.current = k.all[0]
	return k, nil
}

// CurrentID is the key id of the key new values are sealed with.
func (k *Keyring) CurrentID() string { return hex.EncodeToString(k.current.id) }

// Seal encrypts plaintext bound to context (as Box.Seal) with the current
// key and prefixes the key's id.
func (k *Keyring) Seal(plaintext []byte, context string) ([]byte, error) {
	sealed, err := k.current.box.Seal(plaintext, context)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(keyedMagic)+keyIDLen+len(sealed))
	out = append(out, keyedMagic...)
	out = append(out, k.current.id...)
	return append(out, sealed...), nil
}

// Open decrypts a value sealed by any key of the ring with the same
// context: by its key id, or, for a value sealed before key ids, by
// trying each key.
func (k *Keyring) Open(sealed []byte, context string) ([]byte, error) {
	if id, body, ok := splitKeyed(sealed); ok {
		for _, kb := range k.all {
			if bytes.Equal(kb.id, id) {
				if out, err := kb.box.Open(body, context); err == nil {
					return out, nil
				}
			}
		}
		// Not ours after all: a legacy value whose random nonce happens to
		// start like the prefix (one in 2^32) is tried as one below.
	}
	for _, kb := range k.all {
		if out, err := kb.box.Open(sealed, context); err == nil {
			return out, nil
		}
	}
	return nil, ErrCorrupt
}

// SealedWithCurrent reports whether sealed carries the current key's id:
// a value that does not (an older key's, or one sealed before key ids)
// is what a re-encryption pass seals again.
func (k *Keyring) SealedWithCurrent(sealed []byte) bool {
	id, _, ok := splitKeyed(sealed)
	return ok && bytes.Equal(id, k.current.id)
}

// splitKeyed returns the key id and the Box-sealed body of a value a
// Keyring sealed.
func splitKeyed(sealed []byte) (id, body []byte, ok bool) {
	if len(sealed) < len(keyedMagic)+keyIDLen || !bytes.Equal(sealed[:len(keyedMagic)], keyedMagic) {
		return nil, nil, false
	}
	rest := sealed[len(keyedMagic):]
	return rest[:keyIDLen], rest[keyIDLen:], true
}
