package database

import (
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"
)

// TestUUIDRoundTrip encodes and scans uuid.UUID, *uuid.UUID and slices of
// them in both formats through a registered map, as pgx does for queries.
func TestUUIDRoundTrip(t *testing.T) {
	m := pgtype.NewMap()
	RegisterUUID(m)
	id := uuid.New()
	for _, format := range []int16{pgtype.BinaryFormatCode, pgtype.TextFormatCode} {
		buf, err := m.Encode(pgtype.UUIDOID, format, id, nil)
		if err != nil {
			t.Fatal(err)
		}
		var got uuid.UUID
		if err := m.Scan(pgtype.UUIDOID, format, buf, &got); err != nil || got != id {
			t.Fatalf("format %d: scanned %v, %v; want %v", format, got, err, id)
		}
		var ptr *uuid.UUID
		if err := m.Scan(pgtype.UUIDOID, format, buf, &ptr); err != nil || ptr == nil || *ptr != id {
			t.Fatalf("format %d: scanned pointer %v, %v", format, ptr, err)
		}
		if err := m.Scan(pgtype.UUIDOID, format, nil, &ptr); err != nil || ptr != nil {
			t.Fatalf("format %d: NULL into pointer: %v, %v", format, ptr, err)
		}
		// NULL into uuid.UUID does what pgx does without the registration.
		plain, viaDefault := id, id
		errReg := m.Scan(pgtype.UUIDOID, format, nil, &plain)
		errDef := pgtype.NewMap().Scan(pgtype.UUIDOID, format, nil, &viaDefault)
		if plain != viaDefault || (errReg == nil) != (errDef == nil) {
			t.Fatalf("format %d: NULL into uuid.UUID: %v, %v; without registration %v, %v", format, plain, errReg, viaDefault, errDef)
		}
		abuf, err := m.Encode(pgtype.UUIDArrayOID, format, []uuid.UUID{id, id}, nil)
		if err != nil {
			t.Fatal(err)
		}
		var ids []uuid.UUID
		if err := m.Scan(pgtype.UUIDArrayOID, format, abuf, &ids); err != nil || len(ids) != 2 || ids[1] != id {
			t.Fatalf("format %d: array %v, %v", format, ids, err)
		}
	}
}

func BenchmarkUUIDEncode(b *testing.B) {
	id := uuid.New()
	for _, registered := range []bool{false, true} {
		m := pgtype.NewMap()
		if registered {
			RegisterUUID(m)
		}
		name := "default"
		if registered {
			name = "registered"
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if _, err := m.Encode(pgtype.UUIDOID, pgtype.BinaryFormatCode, id, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
