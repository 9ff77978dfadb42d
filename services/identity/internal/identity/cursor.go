package identity

import (
	"encoding/base64"
	"strconv"
	"strings"
	"time"
)

// Page limits of list calls.
const (
	DefaultPageLimit = 50
	MaxPageLimit     = 200
)

// Cursor is the keyset of the last row of a page: (created_at, id).
type Cursor struct {
	CreatedAt time.Time
	ID        string
}

// encodeCursor returns the opaque form handed to clients.
func encodeCursor(c Cursor) string {
	raw := strconv.FormatInt(c.CreatedAt.UnixMicro(), 10) + ":" + c.ID
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// decodeCursor parses an opaque cursor; "" means the first page.
func decodeCursor(s string) (*Cursor, error) {
	if s == "" {
		return nil, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, invalid("cursor", "is not a cursor returned by this list")
	}
	ts, id, ok := strings.Cut(string(raw), ":")
	micros, err := strconv.ParseInt(ts, 10, 64)
	if !ok || err != nil || !isUUID(id) {
		return nil, invalid("cursor", "is not a cursor returned by this list")
	}
	return &Cursor{CreatedAt: time.UnixMicro(micros).UTC(), ID: id}, nil
}

// pageLimit applies the default and the maximum of list limits.
func pageLimit(n int) (int, error) {
	switch {
	case n < 0:
		return 0, invalid("limit", "must not be negative")
	case n == 0:
		return DefaultPageLimit, nil
	case n > MaxPageLimit:
		return MaxPageLimit, nil
	}
	return n, nil
}

// isUUID reports whether s is a canonical textual UUID.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, r := range s {
		switch i {
		case 8, 13, 18, 23:
			if r != '-' {
				return false
			}
		default:
			if !strings.ContainsRune("0123456789abcdefABCDEF", r) {
				return false
			}
		}
	}
	return true
}
