package n8n

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/meterflow/meterflow/platform/database/dbtest"
	"github.com/meterflow/meterflow/platform/safehttp"
	"github.com/meterflow/meterflow/services/workflow/internal/workflow"
)

// fuzzReply is what the fuzzed receiver answers: headers and a body through
// net/http, or raw bytes written on the connection (any status line,
// malformed headers, a short body) before it is closed.
type fuzzReply struct {
	raw         bool
	status      int
	contentType string
	header      string
	body        []byte
}

// FuzzCall: whatever a webhook receiver answers, the run outcome is well
// formed: a known class, OK exactly for 2xx, a clear error otherwise that
// never names the receiver, an output that is JSON Postgres jsonb accepts,
// and answers over MaxResponseBytes kept as a Truncated stand-in of at most
// that size (a 2xx one still a success). The receiver is a local
// httptest server; every call has a deadline, so a hang fails the test.
func FuzzCall(f *testing.F) {
	for _, s := range []struct {
		raw    bool
		status int
		ct     string
		header string
		body   string
		big    bool
	}{
		{false, 200, "application/json", "", `{"greeting":"hello"}`, false},
		{false, 200, "text/plain", "", "done", false},
		{false, 200, "", "", `[1,2,"\ud800"]`, false},
		{false, 200, "application/json", "", `{"n":1e999999}`, false},
		{false, 201, "application/vnd.api+json", "X-A: b", `"\u0000"`, false},
		{false, 204, "", "", "", false},
		{false, 302, "text/html", "Location: http://example.com/", "<a>moved</a>", false},
		{false, 403, "text/plain", "", "Authorization data is wrong!", false},
		{false, 500, "application/json", "", `{"message":"Error in workflow"}`, false},
		{false, 200, "application/json", "", `{"a":"`, true},
		{false, 200, "text/plain; charset=\"", "", "\xff\xfe\x00", false},
		{true, 0, "", "", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", false},
		{true, 0, "", "", "HTTP/1.1 999 Weird\r\nContent-Length: 2\r\n\r\n{}", false},
		{true, 0, "", "", "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort", false},
		{true, 0, "", "", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", false},
		{true, 0, "", "", "garbage", false},
		{true, 0, "", "", "", false},
	} {
		f.Add(s.raw, s.status, s.ct, s.header, []byte(s.body), s.big)
	}
	replies := make(chan fuzzReply, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rep := <-replies
		if rep.raw {
			conn, buf, err := http.NewResponseController(w).Hijack()
			if err != nil {
				return
			}
			defer conn.Close()
			_, _ = buf.Write(rep.body)
			_ = buf.Flush()
			return
		}
		for _, line := range strings.Split(rep.header, "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && validHeaderName(k) {
				w.Header().Add(k, strings.TrimSpace(v))
			}
		}
		if rep.contentType != "" {
			w.Header().Set("Content-Type", rep.contentType)
		}
		w.WriteHeader(rep.status)
		_, _ = w.Write(rep.body)
	}))
	f.Cleanup(srv.Close)
	conn := jsonbChecker(f)
	c := New(Options{Addresses: safehttp.AddressPolicy{AllowPrivate: true}})

	f.Fuzz(func(t *testing.T, raw bool, status int, contentType, header string, body []byte, big bool) {
		if big {
			body = append(body, strings.Repeat(" ", MaxResponseBytes+1-len(body)%MaxResponseBytes)...)
		}
		// net/http panics on a status outside 100-999, and 1xx are interim
		// answers; raw mode covers any status line.
		status = 200 + abs(status)%800
		replies <- fuzzReply{raw: raw, status: status, contentType: contentType, header: header, body: body}
		done := make(chan workflow.Response, 1)
		go func() {
			done <- c.Call(context.Background(), workflow.Request{
				URL: srv.URL + "/webhook/x", HeaderName: "X-Auth", HeaderValue: "fuzz-secret",
				RunID: "run-1", Body: []byte(`{}`), Timeout: 5 * time.Second,
			})
		}()
		var got workflow.Response
		select {
		case got = <-done:
		case <-time.After(15 * time.Second):
			t.Fatal("Call did not return within its timeout")
		}
		// A reply the handler did not take (the request never arrived) must
		// not leak into the next input.
		select {
		case <-replies:
		default:
		}
		checkResponse(t, conn, got, body, raw, status)
	})
}

func checkResponse(t *testing.T, conn *pgx.Conn, got workflow.Response, body []byte, raw bool, status int) {
	t.Helper()
	switch got.Class {
	case "2xx", "3xx", "4xx", "5xx", "error", "timeout", "too_large", "refused", "blocked":
	default:
		t.Fatalf("class %q is not a known class", got.Class)
	}
	is2xx := got.HTTPStatus >= 200 && got.HTTPStatus < 300
	if got.OK != (got.Class == "2xx" || got.Class == "too_large" && is2xx) {
		t.Fatalf("OK = %v with class %s, status %d", got.OK, got.Class, got.HTTPStatus)
	}
	if !got.OK {
		if got.Error == "" || !utf8.ValidString(got.Error) {
			t.Fatalf("a failed call has no clear error: %+v", got)
		}
		if strings.Contains(got.Error, "127.0.0.1") || strings.Contains(got.Error, "fuzz-secret") {
			t.Fatalf("error names the receiver or its secret: %q", got.Error)
		}
	}
	// A body over the cap is too_large and truncated, or the whole answer
	// an error when its headers did not parse (say a Content-Type of 0x7f);
	// net/http sends no body with a 204 or 304.
	bodyAllowed := status != http.StatusNoContent && status != http.StatusNotModified
	if !raw && bodyAllowed && len(body) > MaxResponseBytes && got.Class != "too_large" && got.Class != "error" {
		t.Fatalf("a %d-byte answer was not truncated: class %s, %d bytes of output", len(body), got.Class, len(got.Output))
	}
	if !raw && got.HTTPStatus != status && got.Class != "error" {
		t.Fatalf("HTTPStatus = %d, receiver sent %d", got.HTTPStatus, status)
	}
	if got.Output == nil {
		return
	}
	if got.Class == "too_large" && (len(got.Output) > MaxResponseBytes || !bytes.HasPrefix(got.Output, []byte(`{"$truncated": {"preview": "`))) {
		t.Fatalf("a truncated answer's output is %d bytes: %.100q", len(got.Output), got.Output)
	}
	if !json.Valid(got.Output) || !utf8.Valid(got.Output) {
		t.Fatalf("output is not valid UTF-8 JSON: %q", got.Output)
	}
	// The run stores its output in a jsonb column: Postgres is the judge.
	if _, err := conn.Exec(context.Background(), "SELECT $1::text::jsonb", string(got.Output)); err != nil {
		t.Fatalf("Postgres jsonb refuses output %q: %v", got.Output, err)
	}
}

// jsonbChecker connects to the test Postgres (no database of our own needed).
func jsonbChecker(f *testing.F) *pgx.Conn {
	conn, err := pgx.Connect(context.Background(), dbtest.AdminURL())
	if err != nil {
		f.Fatalf("connect to Postgres: %v", err)
	}
	f.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

func validHeaderName(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		if c := k[i]; c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

func abs(n int) int {
	if n < 0 {
		if n == -n { // math.MinInt
			return 0
		}
		return -n
	}
	return n
}
