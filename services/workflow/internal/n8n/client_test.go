package n8n

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meterflow/meterflow/platform/safehttp"
	"github.com/meterflow/meterflow/services/workflow/internal/workflow"
)

func TestCall(t *testing.T) {
	t.Parallel()
	var redirectTargetHits atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("/webhook/json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"greeting":"hello ada"}`)
	})
	mux.HandleFunc("/webhook/text", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, `done`)
	})
	mux.HandleFunc("/webhook/auth", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Api-Key") != "s3cret" {
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(http.StatusForbidden)
			_, _ = io.WriteString(w, "Authorization data is wrong!")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"ok":true}`)
	})
	mux.HandleFunc("/webhook/fail", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, `{"message":"Error in workflow"}`)
	})
	mux.HandleFunc("/webhook/redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/webhook/target", http.StatusFound)
	})
	mux.HandleFunc("/webhook/target", func(w http.ResponseWriter, r *http.Request) { redirectTargetHits.Add(1) })
	mux.HandleFunc("/webhook/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(2 * time.Second):
		}
	})
	mux.HandleFunc("/webhook/big", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(MaxResponseBytes+3))
		_, _ = w.Write([]byte(`"` + strings.Repeat("x", MaxResponseBytes+1) + `"`))
	})
	mux.HandleFunc("/webhook/big-error", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(strings.Repeat("e", 2*MaxResponseBytes)))
	})
	mux.HandleFunc("/webhook/empty", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	refused := closedPort(t)
	c := New(Options{Addresses: safehttp.AddressPolicy{AllowPrivate: true}})
	// A 2xx answer over the cap is a success: the work was done. Its output
	// is the Truncated stand-in, as large as the cap allows.
	bigHead, bigTail := `{"$truncated": {"preview": "\"`, `", "total_bytes": 1048579}}`
	bigOutput := bigHead + strings.Repeat("x", MaxResponseBytes-len(bigHead)-len(bigTail)) + bigTail
	errHead, errTail := `{"$truncated": {"preview": "`, `"}}`
	bigError := errHead + strings.Repeat("e", MaxResponseBytes-len(errHead)-len(errTail)) + errTail
	tests := []struct {
		name       string
		url        string
		header     string
		timeout    time.Duration
		wantOK     bool
		wantStatus int
		wantOutput string
		wantError  string
		wantClass  string
	}{
		{"json", srv.URL + "/webhook/json", "", time.Second, true, 200, `{"greeting":"hello ada"}`, "", "2xx"},
		{"text becomes a string", srv.URL + "/webhook/text", "", time.Second, true, 200, `"done"`, "", "2xx"},
		{"empty body", srv.URL + "/webhook/empty", "", time.Second, true, 204, ``, "", "2xx"},
		{"header auth ok", srv.URL + "/webhook/auth", "s3cret", time.Second, true, 200, `{"ok":true}`, "", "2xx"},
		{"header auth wrong", srv.URL + "/webhook/auth", "nope", time.Second, false, 403, `"Authorization data is wrong!"`, "n8n answered 403", "4xx"},
		{"500", srv.URL + "/webhook/fail", "", time.Second, false, 500, `{"message":"Error in workflow"}`, "n8n answered 500", "5xx"},
		{"redirect not followed", srv.URL + "/webhook/redirect", "", time.Second, false, 302, ``, "n8n answered 302 (a redirect; redirects are not followed)", "3xx"},
		{"slow", srv.URL + "/webhook/slow", "", 200 * time.Millisecond, false, 0, ``, "timed out after 200 ms", "timeout"},
		{"refused", "http://" + refused + "/webhook/x", "", time.Second, false, 0, ``, "connection refused", "refused"},
		{"too large 2xx succeeds, truncated", srv.URL + "/webhook/big", "", 5 * time.Second, true, 200, bigOutput, "", "too_large"},
		{"too large 500 fails, truncated", srv.URL + "/webhook/big-error", "", 5 * time.Second, false, 500, bigError, "n8n answered 500", "too_large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := c.Call(context.Background(), workflow.Request{
				URL: tt.url, HeaderName: "X-Api-Key", HeaderValue: tt.header, RunID: "run-1", Body: []byte(`{}`), Timeout: tt.timeout,
			})
			if got.OK != tt.wantOK || got.HTTPStatus != tt.wantStatus || string(got.Output) != tt.wantOutput ||
				got.Error != tt.wantError || got.Class != tt.wantClass {
				t.Errorf("Call = ok=%v status=%d error=%q class=%s output %.200s (%d bytes), want ok=%v status=%d output=%.200s (%d bytes) error=%q class=%s",
					got.OK, got.HTTPStatus, got.Error, got.Class, got.Output, len(got.Output),
					tt.wantOK, tt.wantStatus, tt.wantOutput, len(tt.wantOutput), tt.wantError, tt.wantClass)
			}
			if len(got.Output) > MaxResponseBytes || (len(got.Output) > 0 && !json.Valid(got.Output)) {
				t.Errorf("output of %d bytes, valid JSON %v", len(got.Output), json.Valid(got.Output))
			}
		})
	}
	t.Cleanup(func() {
		if n := redirectTargetHits.Load(); n != 0 {
			t.Errorf("redirect target was called %d times", n)
		}
	})
}

func TestCallSendsHeaders(t *testing.T) {
	t.Parallel()
	got := make(chan http.Header, 1)
	var body string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		body = string(b)
		got <- r.Header.Clone()
	}))
	t.Cleanup(srv.Close)
	res := New(Options{Addresses: safehttp.AddressPolicy{AllowPrivate: true}}).Call(context.Background(), workflow.Request{
		URL: srv.URL, HeaderName: "X-N8N-Key", HeaderValue: "v", RunID: "abc", Body: []byte(`{"a":1}`), Timeout: time.Second,
	})
	if !res.OK {
		t.Fatalf("Call = %+v", res)
	}
	h := <-got
	for k, want := range map[string]string{"X-N8n-Key": "v", "X-Run-Id": "abc", "Content-Type": "application/json", "User-Agent": "meterflow/1"} {
		if h.Get(k) != want {
			t.Errorf("header %s = %q, want %q", k, h.Get(k), want)
		}
	}
	if body != `{"a":1}` {
		t.Errorf("body = %s", body)
	}
}

func TestCallRefusesHostsOutsideAllowList(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	t.Cleanup(srv.Close)
	dev := safehttp.AddressPolicy{AllowPrivate: true}
	c := New(Options{Hosts: workflow.HostPolicy{"n8n.example.com"}, Addresses: dev})
	res := c.Call(context.Background(), workflow.Request{URL: srv.URL, Body: []byte(`{}`), Timeout: time.Second})
	if res.OK || res.Error != "webhook host is not allowed" || res.Class != "blocked" || hits.Load() != 0 {
		t.Fatalf("Call = %+v, hits %d", res, hits.Load())
	}
	ok := New(Options{Hosts: workflow.HostPolicy{"127.0.0.1"}, Addresses: dev}).Call(context.Background(), workflow.Request{URL: srv.URL, Body: []byte(`{}`), Timeout: time.Second})
	if !ok.OK {
		t.Fatalf("allowed host: %+v", ok)
	}
}

// TestCallRefusesPrivateAddresses: without WORKFLOW_ALLOW_PRIVATE or a
// matching WORKFLOW_ALLOWED_CIDRS, loopback is out of reach, by address or
// by a name that resolves to it, and the listed host names do not change that.
func TestCallRefusesPrivateAddresses(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	for _, u := range []string{srv.URL + "/webhook/x", "http://localhost:" + port + "/webhook/x"} {
		c := New(Options{Hosts: workflow.HostPolicy{"127.0.0.1", "localhost"}})
		res := c.Call(context.Background(), workflow.Request{URL: u, Body: []byte(`{}`), Timeout: time.Second})
		if res.OK || res.Error != "webhook address is not allowed" || res.Class != "blocked" || hits.Load() != 0 {
			t.Fatalf("%s: Call = %+v, hits %d", u, res, hits.Load())
		}
	}
	cidr := safehttp.AddressPolicy{AllowedCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	if res := New(Options{Addresses: cidr}).Call(context.Background(), workflow.Request{URL: srv.URL, Body: []byte(`{}`), Timeout: time.Second}); !res.OK {
		t.Fatalf("allowed range: %+v", res)
	}
}

func TestOutput(t *testing.T) {
	t.Parallel()
	tests := []struct{ body, ct, want string }{
		{`{"a":1}`, "application/json; charset=utf-8", `{"a":1}`},
		{`[1,2]`, "", `[1,2]`},
		{`123`, "text/plain", `"123"`},
		{`not json`, "application/json", `"not json"`},
		{"a\x00b", "text/plain", `"ab"`},
		{`{"a":"\u0000"}`, "application/json", `"{\"a\":\"\\u0000\"}"`},
		{"", "application/json", ``},
		// Fuzzing found JSON that Postgres jsonb refuses, so the run could
		// not be stored: such answers are kept as text.
		{`{"a":"\ud800"}`, "application/json", `"{\"a\":\"\\ud800\"}"`},
		{`"\udc00"`, "application/json", `"\"\\udc00\""`},
		{`1e1000000`, "application/json", `"1e1000000"`},
		{`[-1E-20000]`, "", `"[-1E-20000]"`},
		{"\"\xff\"", "application/json", `"\"` + "\uFFFD" + `\""`},
		{`{"s":"\ud83d\ude00","n":-1.5e300,"e":"\\u0000"}`, "application/json", `{"s":"\ud83d\ude00","n":-1.5e300,"e":"\\u0000"}`},
	}
	for _, tt := range tests {
		if got := string(Output([]byte(tt.body), tt.ct)); got != tt.want {
			t.Errorf("Output(%q, %q) = %s, want %s", tt.body, tt.ct, got, tt.want)
		}
	}
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}
