package grpcapi

import (
	"encoding/base64"
	"encoding/json"
	"time"

	"github.com/google/uuid"

	"github.com/meterflow/meterflow/services/workflow/internal/workflow"
)

type cursorJSON struct {
	T  time.Time `json:"t"`
	ID uuid.UUID `json:"id"`
}

// encodeCursor returns the opaque position after (createdAt, id).
func encodeCursor(createdAt time.Time, id uuid.UUID) string {
	b, _ := json.Marshal(cursorJSON{T: createdAt.UTC(), ID: id})
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeCursor reads a cursor from encodeCursor; "" is the first page.
func decodeCursor(s string) (*workflow.Cursor, error) {
	if s == "" {
		return nil, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	var c cursorJSON
	if err != nil || json.Unmarshal(b, &c) != nil || c.T.IsZero() {
		return nil, &workflow.ValidationError{Fields: []workflow.FieldError{{Field: "cursor", Message: "is not a cursor from this list"}}}
	}
	return &workflow.Cursor{CreatedAt: c.T, ID: c.ID}, nil
}
