package workflow

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestTruncated(t *testing.T) {
	t.Parallel()
	const limit = 100
	tests := []struct {
		name  string
		text  string
		total int64
	}{
		{"ascii", strings.Repeat("a", 500), 500},
		{"json text", `{"key":"` + strings.Repeat("v", 300) + `"}`, 310},
		{"quotes and backslashes at the cut", strings.Repeat(`"\`, 300), -1},
		{"multi-byte runes at the cut", strings.Repeat("é€😀", 100), 900},
		{"control characters", strings.Repeat("\x01\n\t\x1f", 100), 400},
		{"invalid UTF-8 and NUL", strings.Repeat("\xff\x00a", 100), 300},
		{"short text", "abc", 3},
		{"empty", "", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out := Truncated([]byte(tc.text), tc.total, limit)
			if len(out) > limit {
				t.Fatalf("%d bytes, want at most %d: %s", len(out), limit, out)
			}
			if !utf8.Valid(out) || bytes.Contains(out, []byte(`\u0000`)) {
				t.Fatalf("not jsonb-safe: %q", out)
			}
			var got map[string]struct {
				Preview    *string `json:"preview"`
				TotalBytes *int64  `json:"total_bytes"`
			}
			if err := json.Unmarshal(out, &got); err != nil || len(got) != 1 {
				t.Fatalf("not the stand-in object: %q (%v)", out, err)
			}
			v, ok := got[TruncatedKey]
			if !ok || v.Preview == nil {
				t.Fatalf("no %s.preview in %s", TruncatedKey, out)
			}
			if (tc.total >= 0) != (v.TotalBytes != nil) || (v.TotalBytes != nil && *v.TotalBytes != tc.total) {
				t.Fatalf("total_bytes = %v, want %d", v.TotalBytes, tc.total)
			}
			// The text as the stand-in reads it: U+FFFD for each invalid
			// byte, NUL dropped.
			var clean strings.Builder
			for _, r := range tc.text {
				if r != 0 {
					clean.WriteRune(r)
				}
			}
			if !strings.HasPrefix(clean.String(), *v.Preview) {
				t.Fatalf("preview %q is not a prefix of the text", *v.Preview)
			}
			if len(*v.Preview) == 0 && clean.Len() > 0 {
				t.Fatal("empty preview of a non-empty text")
			}
		})
	}
}

func TestRefusedInputKeepsAPreview(t *testing.T) {
	t.Parallel()
	small := []byte(`{"a":"` + strings.Repeat("x", MaxRefusedInputBytes-9) + `"}`)
	if got := refusedInput(small); !bytes.Equal(got, small) {
		t.Fatalf("an input of %d bytes was changed", len(small))
	}
	big := []byte(`{"a":"` + strings.Repeat("x", MaxInputBytes) + `"}`)
	got := refusedInput(big)
	if len(got) > MaxRefusedInputBytes || !json.Valid(got) || !bytes.HasPrefix(got, []byte(`{"$truncated": {"preview": "{\"a\":\"xxx`)) ||
		!bytes.HasSuffix(got, []byte(`"total_bytes": 262152}}`)) {
		t.Fatalf("preview of %d bytes: %.80s…%s", len(got), got, got[max(0, len(got)-30):])
	}
}

func TestForUserHidesTheErrorAnswer(t *testing.T) {
	t.Parallel()
	body := []byte(`{"code":404,"message":"The requested webhook \"POST 6f1c-secret\" is not registered.","stacktrace":"..."}`)
	failed := Run{Status: StatusFailed, Output: body, Error: "n8n answered 404", HTTPStatus: 404}
	if got := failed.ForUser(); got.Output != nil || got.Error != "n8n answered 404" || got.HTTPStatus != 404 {
		t.Fatalf("ForUser of a failed run = output %s, error %q", got.Output, got.Error)
	}
	if failed.Output == nil {
		t.Fatal("ForUser changed the run it was called on")
	}
	ok := Run{Status: StatusSucceeded, Output: []byte(`{"greeting":"hi"}`)}
	if got := ok.ForUser(); !bytes.Equal(got.Output, ok.Output) {
		t.Fatalf("ForUser of a succeeded run dropped its output")
	}
}
