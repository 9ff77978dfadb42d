package api

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// rawExchange sends req on a fresh TCP connection, as is, and reads one
// answer. After an answer with "Connection: close" it also reads on until
// the server's close, and fails unless that close is clean (EOF, not a
// reset): a reset can destroy the answer before a client reads it.
func rawExchange(t *testing.T, addr, req string) (*http.Response, []byte) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	// Written concurrently: a server that refuses early may stop reading.
	werr := make(chan error, 1)
	go func() {
		_, err := io.WriteString(conn, req)
		werr <- err
	}()
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the body: %v", err)
	}
	if resp.Close {
		if n, err := br.Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) {
			t.Fatalf("after the answer: %d bytes, %v; want a clean close (EOF)", n, err)
		}
		if err := <-werr; err != nil {
			t.Fatalf("the request could not be sent whole: %v", err)
		}
	}
	return resp, body
}

// TestRequestHeadLimits: request targets up to 8 KiB are served; larger
// ones, and heads larger than the read buffer, get a problem document and
// a clean close, never a reset.
func TestRequestHeadLimits(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	addr := b.listen(t)
	get := func(target string, headers ...string) string {
		return "GET " + target + " HTTP/1.1\r\nHost: gateway.test\r\n" + strings.Join(headers, "") + "\r\n"
	}
	// A target of exactly n bytes.
	target := func(n int) string {
		const prefix = "/healthz?q="
		return prefix + strings.Repeat("a", n-len(prefix))
	}
	tests := []struct {
		name   string
		req    string
		status int
		code   string
	}{
		{"5 KB query", get(target(5000)), 200, ""},
		{"8 KiB target", get(target(MaxURIBytes)), 200, ""},
		{"8 KiB target and 20 KB of headers", get(target(MaxURIBytes), "X-Pad: "+strings.Repeat("p", 20000)+"\r\n"), 200, ""},
		{"8 KiB and one byte", get(target(MaxURIBytes + 1)), 414, "uri_too_long"},
		{"20 KB query", get(target(20000)), 414, "uri_too_long"},
		{"20 KB query on an unknown route", get("/nope?q=" + strings.Repeat("a", 20000)), 414, "uri_too_long"},
		{"40 KB of header fields", get("/healthz", "X-Pad: "+strings.Repeat("p", 40000)+"\r\n"), 431, "headers_too_large"},
		{"100 KB query, over the read buffer", get(target(100000)), 431, "headers_too_large"},
		{"2 MiB body over the body limit", "POST /v1/auth/login HTTP/1.1\r\nHost: gateway.test\r\nContent-Type: application/json\r\nContent-Length: 2097152\r\n\r\n" +
			strings.Repeat(" ", 2<<20), 413, "payload_too_large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp, body := rawExchange(t, addr, tt.req)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %.200s", resp.StatusCode, tt.status, body)
			}
			if tt.code == "" {
				if resp.Close {
					t.Fatal("an accepted request closed the connection")
				}
				return
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" || !resp.Close || resp.Header.Get("X-Request-ID") == "" {
				t.Fatalf("Content-Type %q, close %v, headers %v", ct, resp.Close, resp.Header)
			}
			var p problemBody
			if err := json.Unmarshal(body, &p); err != nil || p.Code != tt.code || p.Status != tt.status || p.Type != "https://meterflow.dev/problems/"+tt.code || p.Title == "" {
				t.Fatalf("problem %+v (%v): %s", p, err, body)
			}
		})
	}
}

// TestRequestHeadKeepAlive: an accepted long target leaves the connection
// usable for the next request.
func TestRequestHeadKeepAlive(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	conn, err := net.Dial("tcp", b.listen(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(conn)
	for i := range 2 {
		if _, err := fmt.Fprintf(conn, "GET /healthz?q=%s HTTP/1.1\r\nHost: gateway.test\r\n\r\n", strings.Repeat("a", 5000)); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != 200 || resp.Close {
			t.Fatalf("request %d: %d, close %v", i, resp.StatusCode, resp.Close)
		}
	}
}
