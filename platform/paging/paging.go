// Package paging is the one way every list of the API pages: keyset
// cursors over (created_at, id), newest first, a default and a maximum
// page size, and a next cursor only when another row exists.
package paging

import (
	"encoding/base64"
	"encoding/json"
	"time"

	"github.com/google/uuid"

	"github.com/meterflow/meterflow/platform/validation"
)

// Page sizes of every list: ?limit= defaults to DefaultLimit and may not
// exceed MaxLimit (the contract's 50 and 200).
const (
	DefaultLimit = 50
	MaxLimit     = 200
)

// Cursor is the keyset position after which a page starts: the
// (created_at, id) of the last row of the previous page. The zero Cursor
// is the start of the list.
type Cursor struct {
	CreatedAt time.Time
	ID        uuid.UUID
}

// IsZero reports whether c is the start of the list.
func (c Cursor) IsZero() bool { return c.CreatedAt.IsZero() && c.ID == uuid.Nil }

// cursorJSON is the wire form: Postgres keeps microseconds, so the time
// travels as exact Unix microseconds.
type cursorJSON struct {
	T int64     `json:"t"`
	I uuid.UUID `json:"i"`
}

// Encode returns the opaque form handed to clients.
func (c Cursor) Encode() string {
	b, _ := json.Marshal(cursorJSON{T: c.CreatedAt.UnixMicro(), I: c.ID})
	return base64.RawURLEncoding.EncodeToString(b)
}

// ParseCursor reads a cursor from Encode; "" is the start of the list.
// Anything else is a validation error on the field "cursor".
func ParseCursor(s string) (Cursor, error) {
	if s == "" {
		return Cursor{}, nil
	}
	bad := validation.Field("cursor", "is not a cursor returned by this list")
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return Cursor{}, bad
	}
	var c cursorJSON
	if err := json.Unmarshal(b, &c); err != nil || c.I == uuid.Nil || c.T == 0 {
		return Cursor{}, bad
	}
	return Cursor{CreatedAt: time.UnixMicro(c.T).UTC(), ID: c.I}, nil
}

// Limit applies the default (for 0) and refuses sizes outside 1..MaxLimit
// with a validation error on the field "limit".
func Limit(n int) (int, error) {
	switch {
	case n == 0:
		return DefaultLimit, nil
	case n < 0 || n > MaxLimit:
		return 0, validation.Field("limit", "must be between 1 and 200")
	}
	return n, nil
}

// Trim turns rows fetched with limit+1 into a page: at most limit rows,
// and the cursor of the last one only when the extra row shows that
// another page exists (so a next cursor never leads to an empty page).
func Trim[T any](rows []T, limit int, key func(T) Cursor) ([]T, string) {
	if len(rows) <= limit {
		return rows, ""
	}
	rows = rows[:limit]
	return rows, key(rows[limit-1]).Encode()
}
