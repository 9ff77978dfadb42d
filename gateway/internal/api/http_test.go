package api

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/meterflow/meterflow/platform/rpcerr"
	"google.golang.org/grpc/codes"

	identityv1 "github.com/meterflow/meterflow/proto/gen/meterflow/identity/v1"
)

func TestStrictJSON(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	tests := []struct {
		name        string
		contentType string
		body        string
		wantStatus  int
		wantCode    string
		wantField   string
	}{
		{"valid", "application/json", `{"email":"a@example.com","password":"password1"}`, 200, "", ""},
		{"charset is fine", "application/json; charset=utf-8", `{"email":"a@example.com","password":"password1"}`, 200, "", ""},
		{"unknown field", "application/json", `{"email":"a@example.com","password":"password1","admin":true}`, 400, "validation_failed", "admin"},
		{"wrong type", "application/json", `{"email":42,"password":"password1"}`, 400, "validation_failed", "email"},
		{"trailing data", "application/json", `{"email":"a@example.com","password":"p"} {"x":1}`, 400, "validation_failed", "body"},
		{"trailing garbage", "application/json", `{"email":"a@example.com","password":"p"}xyz`, 400, "validation_failed", "body"},
		{"malformed", "application/json", `{"email":`, 400, "validation_failed", "body"},
		{"not an object", "application/json", `[1,2]`, 400, "validation_failed", "body"},
		{"empty body", "application/json", ``, 400, "validation_failed", "body"},
		{"form content type", "application/x-www-form-urlencoded", `email=a`, 415, "unsupported_media_type", ""},
		{"no content type", "", `{"email":"a@example.com","password":"password1"}`, 415, "unsupported_media_type", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req, _ := http.NewRequest(http.MethodPost, "http://gateway.test/v1/auth/login", strings.NewReader(tt.body))
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			resp, body := b.do(t, req)
			if tt.wantCode == "" {
				if resp.StatusCode != tt.wantStatus {
					t.Fatalf("status %d: %s", resp.StatusCode, body)
				}
				if !bytes.Contains(body, []byte(`"token_type":"Bearer"`)) {
					t.Fatalf("body %s", body)
				}
				return
			}
			p := wantProblem(t, resp, body, tt.wantStatus, tt.wantCode)
			if tt.wantField != "" && (len(p.Errors) == 0 || p.Errors[0].Field != tt.wantField) {
				t.Fatalf("errors = %+v, want field %q", p.Errors, tt.wantField)
			}
		})
	}
}

func TestBodyLimit(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	addr := b.listen(t)
	// A raw connection: the server answers 413 as soon as it sees the
	// Content-Length, possibly before the client finished sending.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := `{"email":"` + strings.Repeat("a", 2<<20) + `","password":"x"}`
	head := fmt.Sprintf("POST /v1/auth/login HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n"+
		"X-Request-ID: big-body-1\r\nContent-Length: %d\r\n\r\n", len(body))
	go func() { _, _ = conn.Write([]byte(head + body)) }()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	wantProblem(t, resp, raw, http.StatusRequestEntityTooLarge, "payload_too_large")
	if got := resp.Header.Get("X-Request-ID"); got == "" {
		t.Error("X-Request-ID missing on 413")
	}
	if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Error("security headers missing on 413")
	}

	// Just under the limit is read (and then judged on its content).
	ok := `{"email":"` + strings.Repeat("a", BodyLimit-64) + `","password":"x"}`
	resp2, body2 := b.do(t, newReq(http.MethodPost, "/v1/auth/login", ok))
	if resp2.StatusCode == http.StatusRequestEntityTooLarge {
		t.Fatalf("a body under 1 MiB was refused: %s", body2)
	}
}

func TestRequestID(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	tests := []struct {
		name, sent string
		echoed     bool
	}{
		{"sane id echoed", "abc-123_DEF.4:5", true},
		{"absent: generated", "", false},
		{"too long: replaced", strings.Repeat("a", 129), false},
		{"unsafe characters: replaced", "abc\"<script>", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, path := range []string{"/healthz", "/no/such/route"} {
				req := newReq(http.MethodGet, path, "")
				if tt.sent != "" {
					req.Header.Set("X-Request-ID", tt.sent)
				}
				resp, _ := b.do(t, req)
				got := resp.Header.Get("X-Request-ID")
				if tt.echoed && got != tt.sent {
					t.Fatalf("%s: X-Request-ID = %q, want %q", path, got, tt.sent)
				}
				if !tt.echoed && (got == "" || got == tt.sent || !requestIDOK(got)) {
					t.Fatalf("%s: X-Request-ID = %q, want a fresh id", path, got)
				}
			}
		})
	}
}

func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	for _, path := range []string{"/healthz", "/v1/me", "/nope"} {
		resp, _ := b.do(t, newReq(http.MethodGet, path, ""))
		for h, want := range map[string]string{
			"X-Content-Type-Options":  "nosniff",
			"X-Frame-Options":         "DENY",
			"Referrer-Policy":         "no-referrer",
			"Content-Security-Policy": apiCSP,
			"Cache-Control":           "no-store",
		} {
			if got := resp.Header.Get(h); got != want {
				t.Errorf("%s: %s = %q, want %q", path, h, got, want)
			}
		}
		if resp.Header.Get("Strict-Transport-Security") != "" {
			t.Errorf("%s: HSTS sent although not configured", path)
		}
	}
}

func TestUnknownRouteAndMethod(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	resp, body := b.do(t, newReq(http.MethodGet, "/v1/nope", ""))
	wantProblem(t, resp, body, http.StatusNotFound, "not_found")
	resp, body = b.do(t, newReq(http.MethodDelete, "/v1/me", ""))
	wantProblem(t, resp, body, http.StatusMethodNotAllowed, "method_not_allowed")
}

func TestServiceErrorsMapped(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{identity: &stubIdentity{login: func(*identityv1.LoginRequest) (*identityv1.LoginResponse, error) {
		return nil, rpcerr.New(codes.Unauthenticated, rpcerr.InvalidCredentials, "invalid email or password")
	}}})
	resp, body := b.do(t, newReq(http.MethodPost, "/v1/auth/login", `{"email":"a@example.com","password":"password1"}`))
	p := wantProblem(t, resp, body, http.StatusUnauthorized, "invalid_credentials")
	if p.Detail != "invalid email or password" {
		t.Errorf("detail %q", p.Detail)
	}
}
