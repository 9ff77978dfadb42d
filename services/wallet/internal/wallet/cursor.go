package wallet

import (
	"encoding/base64"
	"encoding/json"
	"time"

	"github.com/google/uuid"
)

// Page sizes of every list.
const (
	DefaultPageSize = 50
	MaxPageSize     = 200
)

// Cursor is the keyset position after which a page starts: the
// (created_at, id) of the last row of the previous page.
type Cursor struct {
	CreatedAt time.Time
	ID        uuid.UUID
}

// IsZero reports whether the cursor is the start of the list.
func (c Cursor) IsZero() bool { return c.CreatedAt.IsZero() && c.ID == uuid.Nil }

type cursorJSON struct {
	T int64     `json:"t"`
	I uuid.UUID `json:"i"`
}

// Encode returns the opaque form of c.
func (c Cursor) Encode() string {
	b, _ := json.Marshal(cursorJSON{T: c.CreatedAt.UnixMicro(), I: c.ID})
	return base64.RawURLEncoding.EncodeToString(b)
}

// ParseCursor reads an opaque cursor; "" is the start.
func ParseCursor(s string) (Cursor, error) {
	if s == "" {
		return Cursor{}, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return Cursor{}, invalid("cursor", "is not a cursor returned by this API")
	}
	var c cursorJSON
	if err := json.Unmarshal(b, &c); err != nil || c.I == uuid.Nil {
		return Cursor{}, invalid("cursor", "is not a cursor returned by this API")
	}
	return Cursor{CreatedAt: time.UnixMicro(c.T).UTC(), ID: c.I}, nil
}

// pageLimit applies the default and the maximum.
func pageLimit(n int) (int, error) {
	switch {
	case n == 0:
		return DefaultPageSize, nil
	case n < 0 || n > MaxPageSize:
		return 0, invalid("limit", "must be between 1 and 200")
	}
	return n, nil
}

// page trims a result fetched with limit+1 rows and returns the next cursor.
func page[T any](rows []T, limit int, key func(T) Cursor) ([]T, string) {
	if len(rows) <= limit {
		return rows, ""
	}
	rows = rows[:limit]
	return rows, key(rows[limit-1]).Encode()
}
