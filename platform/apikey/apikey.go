// Package apikey is the format of Meterflow's API keys and their scopes,
// shared by identity (which makes keys) and the gateway (which checks them
// before anything else, docs/trust-model.md).
//
// A key is "mfk_", 40 base62 characters from crypto/rand (238 bits), then
// a 6-character base62 CRC32 (IEEE) of everything before it: 50 characters
// in all, e.g. mfk_3kT…Qz0a1B2c. The checksum lets the gateway refuse a
// mistyped or made-up key without a lookup, and lets secret scanners
// recognise a leaked key offline (the prefix, the length and a checksum
// that matches). Only the SHA-256 of a key is ever stored; the key's first
// 12 characters (DisplayPrefix) are kept to tell keys apart in lists.
package apikey

import (
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"hash/crc32"
	"slices"
	"strings"
)

// Parts of the format.
const (
	// Prefix starts every key.
	Prefix = "mfk_"
	// Len is the length of a key.
	Len = len(Prefix) + bodyLen + checksumLen
	// DisplayPrefixLen is how many leading characters lists show.
	DisplayPrefixLen = 12

	bodyLen     = 40
	checksumLen = 6
)

// alphabet is base62 in ASCII order, the order of the checksum's digits.
const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// Errors of Check. Both mean "not a key we issued" to a client
// (invalid_api_key); they differ only for logs and tests.
var (
	ErrMalformed = errors.New("apikey: not of the form mfk_ + 46 base62 characters")
	ErrChecksum  = errors.New("apikey: checksum does not match")
)

// New returns a fresh key. crypto/rand never fails (Go ≥ 1.24).
func New() string {
	var b strings.Builder
	b.Grow(Len)
	b.WriteString(Prefix)
	// Rejection sampling: 256 = 4×62 + 8, so bytes from 248 up would make
	// the first 8 digits likelier than the rest; dropping them keeps every
	// digit equally likely.
	buf := make([]byte, 64)
	for n := 0; n < bodyLen; {
		_, _ = rand.Read(buf)
		for _, c := range buf {
			if c >= 248 || n == bodyLen {
				continue
			}
			b.WriteByte(alphabet[c%62])
			n++
		}
	}
	b.WriteString(checksum(b.String()))
	return b.String()
}

// checksum is the CRC32 (IEEE) of s in base62, left-padded with '0' to six
// digits (62^6 > 2^32, so it always fits).
func checksum(s string) string {
	v := crc32.ChecksumIEEE([]byte(s))
	out := []byte("000000")
	for i := checksumLen - 1; i >= 0 && v > 0; i-- {
		out[i] = alphabet[v%62]
		v /= 62
	}
	return string(out)
}

// LooksLike reports whether s is meant as an API key (it starts with the
// prefix), so that the gateway answers invalid_api_key, not the access
// token's unauthorized, for a broken one.
func LooksLike(s string) bool { return strings.HasPrefix(s, Prefix) }

// Check reports whether s is a well-formed key with a matching checksum:
// a key we could have issued. It reads nothing but s.
func Check(s string) error {
	if len(s) != Len || !strings.HasPrefix(s, Prefix) {
		return ErrMalformed
	}
	for i := len(Prefix); i < Len; i++ {
		if strings.IndexByte(alphabet, s[i]) < 0 {
			return ErrMalformed
		}
	}
	body, sum := s[:Len-checksumLen], s[Len-checksumLen:]
	if checksum(body) != sum {
		return ErrChecksum
	}
	return nil
}

// Hash is the only form of a key that is stored: its SHA-256. A fast hash
// suffices, as for refresh tokens: the key has 238 random bits.
func Hash(key string) []byte {
	sum := sha256.Sum256([]byte(key))
	return sum[:]
}

// DisplayPrefix is the key's first DisplayPrefixLen characters ("mfk_" and
// 8 random ones): enough to tell a user's keys apart, far too little to
// guess the rest.
func DisplayPrefix(key string) string {
	if len(key) < DisplayPrefixLen {
		return key
	}
	return key[:DisplayPrefixLen]
}

// The scopes a key can be given. Each opens the routes named beside it and
// nothing else; a key never reaches the admin, key management, account,
// top-up or webhook-endpoint routes.
const (
	// ScopeWorkflowsRead: GET /v1/workflows.
	ScopeWorkflowsRead = "workflows:read"
	// ScopeRunsWrite: POST /v1/workflows/{slug}/runs.
	ScopeRunsWrite = "runs:write"
	// ScopeRunsRead: GET /v1/runs, GET /v1/runs/{id}.
	ScopeRunsRead = "runs:read"
	// ScopeWalletRead: GET /v1/wallet, GET /v1/wallet/transactions.
	ScopeWalletRead = "wallet:read"
)

var scopes = []string{ScopeWorkflowsRead, ScopeRunsWrite, ScopeRunsRead, ScopeWalletRead}

// Scopes returns every scope, in the order the documentation lists them.
func Scopes() []string { return slices.Clone(scopes) }

// ValidScope reports whether s is one of Scopes.
func ValidScope(s string) bool { return slices.Contains(scopes, s) }
