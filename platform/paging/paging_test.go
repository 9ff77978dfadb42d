package paging_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/meterflow/meterflow/platform/paging"
	"github.com/meterflow/meterflow/platform/validation"
)

func TestCursorRoundTrip(t *testing.T) {
	t.Parallel()
	c := paging.Cursor{CreatedAt: time.Date(2026, 12, 7, 1, 2, 3, 456789000, time.UTC), ID: uuid.New()}
	got, err := paging.ParseCursor(c.Encode())
	if err != nil || got != c {
		t.Fatalf("ParseCursor(Encode(%v)) = %v, %v", c, got, err)
	}
	if start, err := paging.ParseCursor(""); err != nil || !start.IsZero() {
		t.Fatalf(`ParseCursor("") = %v, %v`, start, err)
	}
}

func TestParseCursorRefusesForeignCursors(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"!!", "bm90IGpzb24", "e30", "eyJ0IjoxLCJpIjoiMDAwMDAwMDAtMDAwMC0wMDAwLTAwMDAtMDAwMDAwMDAwMDAwIn0"} {
		_, err := paging.ParseCursor(s)
		var ve *validation.Error
		if !errors.As(err, &ve) || ve.Fields[0].Field != "cursor" {
			t.Errorf("ParseCursor(%q) = %v, want a validation error on cursor", s, err)
		}
	}
}

func TestLimit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want int
		err      bool
	}{
		{0, 50, false}, {1, 1, false}, {200, 200, false}, {201, 0, true}, {-1, 0, true},
	}
	for _, tc := range tests {
		got, err := paging.Limit(tc.in)
		if got != tc.want || (err != nil) != tc.err {
			t.Errorf("Limit(%d) = %d, %v", tc.in, got, err)
		}
	}
}

func TestTrimGivesNoCursorToAnEmptyPage(t *testing.T) {
	t.Parallel()
	key := func(n int) paging.Cursor {
		return paging.Cursor{CreatedAt: time.UnixMicro(int64(n)), ID: uuid.New()}
	}
	tests := []struct {
		rows, limit, wantLen int
		wantNext             bool
	}{
		{rows: 0, limit: 2, wantLen: 0},
		{rows: 2, limit: 2, wantLen: 2},                 // exactly a page: no next page
		{rows: 3, limit: 2, wantLen: 2, wantNext: true}, // limit+1 fetched: more exist
	}
	for _, tc := range tests {
		rows := make([]int, tc.rows)
		for i := range rows {
			rows[i] = i + 1
		}
		page, next := paging.Trim(rows, tc.limit, key)
		if len(page) != tc.wantLen || (next != "") != tc.wantNext {
			t.Errorf("Trim(%d rows, %d) = %d rows, next %q", tc.rows, tc.limit, len(page), next)
		}
	}
}
