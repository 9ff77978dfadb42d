package webhooks

import (
	"encoding/base32"
	"strings"

	"github.com/google/uuid"
)

// DeliveryIDPrefix starts every delivery id, as the Standard Webhooks
// specification's examples do.
const DeliveryIDPrefix = "msg_"

// crockford is Crockford's base32 alphabet (no I, L, O, U), the ULID one:
// a UUIDv7 written with it sorts by time, as a ULID does.
var crockford = base32.NewEncoding("0123456789ABCDEFGHJKMNPQRSTVWXYZ").WithPadding(base32.NoPadding)

// FormatDeliveryID is a delivery's public id and webhook-id: "msg_" and
// 26 characters.
func FormatDeliveryID(id uuid.UUID) string {
	return DeliveryIDPrefix + crockford.EncodeToString(id[:])
}

// ParseDeliveryID reads what FormatDeliveryID wrote; ok is false for
// anything else.
func ParseDeliveryID(s string) (uuid.UUID, bool) {
	raw, found := strings.CutPrefix(s, DeliveryIDPrefix)
	if !found || len(raw) != 26 {
		return uuid.Nil, false
	}
	b, err := crockford.DecodeString(raw)
	if err != nil || len(b) != 16 {
		return uuid.Nil, false
	}
	id := uuid.UUID(b)
	if FormatDeliveryID(id) != s { // the last character carries 2 spare bits
		return uuid.Nil, false
	}
	return id, true
}
