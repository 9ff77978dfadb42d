package workflow

import (
	"strconv"
	"unicode/utf8"
)

// Size bounds of what a run keeps and what lists carry.
const (
	// MaxInputBytes bounds a run's input: the JSON text of the object as the
	// client sent it (the gateway passes it on unchanged).
	MaxInputBytes = 256 << 10
	// MaxRefusedInputBytes bounds the input kept by a run refused before the
	// call (insufficient funds): such a run costs nothing, so it must not be
	// a free way to store data. A larger input is kept as a Truncated preview.
	MaxRefusedInputBytes = 4 << 10
	// MaxListValueBytes is the largest input or output (its JSON text as
	// stored) that lists of runs carry; a larger one is left out (nil, the
	// gateway shows null) and only GetRun has it. 200 runs a page then stay
	// far below gRPC's 4 MiB message cap, whatever the runs hold.
	MaxListValueBytes = 4 << 10
)

// TruncatedKey is the only key of the object that stands in for a JSON
// value too large to keep whole:
//
//	{"$truncated": {"preview": "<the start of the value's text>", "total_bytes": 300000}}
//
// preview is the beginning of the original text (JSON or not) as a JSON
// string, cut on a character boundary; total_bytes is the original size,
// left out when unknown (an n8n answer is not read past the cap). The whole
// object is valid JSON that Postgres jsonb accepts.
const TruncatedKey = "$truncated"

// Truncated returns the stand-in for text, at most limit bytes of JSON,
// also as Postgres jsonb renders it back (limit must leave room for the
// envelope, about 60 bytes). totalBytes < 0 means the original size is
// unknown.
func Truncated(text []byte, totalBytes int64, limit int) []byte {
	// Spaced as Postgres renders jsonb, so the stored value reads back no
	// larger than limit.
	head := `{"` + TruncatedKey + `": {"preview": "`
	tail := `"}}`
	if totalBytes >= 0 {
		tail = `", "total_bytes": ` + strconv.FormatInt(totalBytes, 10) + `}}`
	}
	budget := limit - len(head) - len(tail)
	out := make([]byte, 0, min(limit, len(head)+len(text)+len(tail)))
	out = append(out, head...)
	out = appendJSONStringPrefix(out, text, budget)
	return append(out, tail...)
}

// appendJSONStringPrefix appends the JSON-escaped form of the longest
// prefix of text that fits in budget bytes. Invalid UTF-8 becomes U+FFFD
// and NUL is dropped (jsonb cannot hold \u0000).
func appendJSONStringPrefix(dst, text []byte, budget int) []byte {
	const hex = "0123456789abcdef"
	for i := 0; i < len(text); {
		r, size := utf8.DecodeRune(text[i:])
		i += size
		n := 2 // the escapes \" \\ \n \r \t
		switch {
		case r == 0:
			continue
		case r < 0x20 && r != '\n' && r != '\r' && r != '\t':
			n = 6
		case r >= 0x20 && r != '"' && r != '\\':
			// r is utf8.RuneError for invalid bytes: written as U+FFFD.
			n = utf8.RuneLen(r)
		}
		if n > budget {
			break
		}
		budget -= n
		switch {
		case n == 6:
			dst = append(dst, '\\', 'u', '0', '0', hex[r>>4], hex[r&0xf])
		case r == '\n':
			dst = append(dst, '\\', 'n')
		case r == '\r':
			dst = append(dst, '\\', 'r')
		case r == '\t':
			dst = append(dst, '\\', 't')
		case r == '"' || r == '\\':
			dst = append(dst, '\\', byte(r))
		default:
			dst = utf8.AppendRune(dst, r)
		}
	}
	return dst
}

// refusedInput is the input a run refused before the call keeps.
func refusedInput(input []byte) []byte {
	if len(input) <= MaxRefusedInputBytes {
		return input
	}
	return Truncated(input, int64(len(input)), MaxRefusedInputBytes)
}
