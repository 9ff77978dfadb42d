package safehttp

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/meterflow/meterflow/platform/safehttp/dnstest"
)

// counter is a local receiver that counts the requests reaching it.
type counter struct {
	*httptest.Server
	hits atomic.Int32
}

func newCounter(t *testing.T, listen string, h http.HandlerFunc) *counter {
	t.Helper()
	c := &counter{}
	c.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.hits.Add(1)
		h(w, r)
	}))
	l, err := net.Listen("tcp", listen)
	if err != nil {
		t.Fatalf("listen on %s: %v", listen, err)
	}
	_ = c.Listener.Close()
	c.Listener = l
	c.Start()
	t.Cleanup(c.Close)
	return c
}

func ok(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }

func port(t *testing.T, s *httptest.Server) string {
	t.Helper()
	u, err := url.Parse(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Port()
}

func post(ctx context.Context, c *http.Client, u string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(`{}`))
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp, nil
}

func TestClientChecksTheDialedAddress(t *testing.T) {
	t.Parallel()
	rcv := newCounter(t, "127.0.0.1:0", ok)
	p := port(t, rcv.Server)
	dns := dnstest.Start(t, map[string][]netip.Addr{
		"n8n.example":      {netip.MustParseAddr("127.0.0.1")},
		"mapped.example":   {netip.MustParseAddr("::ffff:127.0.0.1")},
		"metadata.example": {netip.MustParseAddr("169.254.169.254")},
	})
	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	onlyOther := func(h string) error {
		if h != "other.example" {
			return errors.New(h + " is not listed")
		}
		return nil
	}
	tests := []struct {
		name    string
		url     string
		opts    Options
		wantErr error
	}{
		{"literal loopback", "http://127.0.0.1:" + p, Options{}, ErrAddressNotAllowed},
		{"literal mapped loopback", "http://[::ffff:127.0.0.1]:" + p, Options{}, ErrAddressNotAllowed},
		{"name resolving to loopback", "http://n8n.example:" + p, Options{}, ErrAddressNotAllowed},
		{"name resolving to a mapped loopback", "http://mapped.example:" + p, Options{}, ErrAddressNotAllowed},
		{"name resolving to metadata, private allowed", "http://metadata.example:" + p, Options{Addresses: AddressPolicy{AllowPrivate: true}}, ErrAddressNotAllowed},
		{"host name not in the allow-list", "http://n8n.example:" + p, Options{Addresses: AddressPolicy{AllowPrivate: true}, CheckHost: onlyOther}, ErrHostNotAllowed},
		{"name resolving to loopback, private allowed", "http://n8n.example:" + p, Options{Addresses: AddressPolicy{AllowPrivate: true}}, nil},
		{"name resolving to loopback, CIDR allowed", "http://n8n.example:" + p, Options{Addresses: AddressPolicy{AllowedCIDRs: loopback}}, nil},
		{"mapped answer, CIDR allowed", "http://mapped.example:" + p, Options{Addresses: AddressPolicy{AllowedCIDRs: loopback}}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Resolver = dns
			before := rcv.hits.Load()
			resp, err := post(context.Background(), New(tc.opts), tc.url)
			hits := rcv.hits.Load() - before
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				if hits != 0 {
					t.Fatalf("the receiver got %d requests, want none", hits)
				}
				return
			}
			if err != nil || resp.StatusCode != http.StatusOK || hits != 1 {
				t.Fatalf("resp %v, err %v, hits %d; want 200 once", resp, err, hits)
			}
		})
	}
}

func TestRedirectsToPrivateAddressesAreNotFollowed(t *testing.T) {
	t.Parallel()
	internal := newCounter(t, "127.0.0.1:0", ok)
	dns := dnstest.Start(t, map[string][]netip.Addr{"internal.example": {netip.MustParseAddr("127.0.0.1")}})
	for _, target := range []string{internal.URL + "/admin", "http://internal.example:" + port(t, internal.Server) + "/admin"} {
		// The "public" receiver: 127.0.0.2 stands for an allowed address.
		public := newCounter(t, "127.0.0.2:0", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, target, http.StatusFound)
		})
		c := New(Options{Addresses: AddressPolicy{AllowedCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}}, Resolver: dns})

		resp, err := post(context.Background(), c, public.URL+"/hook")
		if err != nil || resp.StatusCode != http.StatusFound {
			t.Fatalf("resp %v, err %v; want the 302 itself", resp, err)
		}
		// Even a caller that follows redirects over this transport cannot
		// reach the private target: the dialer refuses it.
		following := &http.Client{Transport: c.Transport}
		if _, err := post(context.Background(), following, public.URL+"/hook"); !errors.Is(err, ErrAddressNotAllowed) {
			t.Fatalf("following the redirect to %s: err = %v, want ErrAddressNotAllowed", target, err)
		}
		if n := internal.hits.Load(); n != 0 {
			t.Fatalf("the private target got %d requests", n)
		}
	}
}

// TestProxyEnvironmentIsIgnored: a proxy would be what the dialer checks,
// and a proxy could reach anything.
func TestProxyEnvironmentIsIgnored(t *testing.T) {
	proxy := newCounter(t, "127.0.0.1:0", ok)
	t.Setenv("HTTP_PROXY", proxy.URL)
	t.Setenv("HTTPS_PROXY", proxy.URL)
	t.Setenv("NO_PROXY", "")
	rcv := newCounter(t, "127.0.0.1:0", ok)
	dns := dnstest.Start(t, map[string][]netip.Addr{"n8n.example": {netip.MustParseAddr("127.0.0.1")}})
	c := New(Options{Addresses: AddressPolicy{AllowPrivate: true}, Resolver: dns})
	if _, err := post(context.Background(), c, "http://n8n.example:"+port(t, rcv.Server)+"/hook"); err != nil {
		t.Fatal(err)
	}
	if rcv.hits.Load() != 1 || proxy.hits.Load() != 0 {
		t.Fatalf("receiver %d, proxy %d requests; want 1 and 0", rcv.hits.Load(), proxy.hits.Load())
	}
}

func TestResponseBodyIsBounded(t *testing.T) {
	t.Parallel()
	const limit = 1000
	tests := []struct {
		size    int
		wantErr error
	}{{limit - 1, nil}, {limit, nil}, {limit + 1, ErrResponseTooLarge}, {10 * limit, ErrResponseTooLarge}}
	for _, tc := range tests {
		rcv := newCounter(t, "127.0.0.1:0", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte(strings.Repeat("x", tc.size)))
		})
		c := New(Options{Addresses: AddressPolicy{AllowPrivate: true}, MaxResponseBytes: limit})
		resp, err := c.Post(rcv.URL, "application/json", strings.NewReader(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if !errors.Is(err, tc.wantErr) {
			t.Fatalf("size %d: err = %v, want %v", tc.size, err, tc.wantErr)
		}
		if want := min(tc.size, limit); len(body) != want {
			t.Fatalf("size %d: read %d bytes, want %d", tc.size, len(body), want)
		}
	}
}

func TestSpansNameOnlySchemeAndHost(t *testing.T) {
	t.Parallel()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	var traceparent atomic.Value
	rcv := newCounter(t, "127.0.0.1:0", func(w http.ResponseWriter, r *http.Request) {
		traceparent.Store(r.Header.Get("Traceparent"))
		w.WriteHeader(http.StatusAccepted)
	})
	dns := dnstest.Start(t, map[string][]netip.Addr{"n8n.example": {netip.MustParseAddr("127.0.0.1")}})
	c := New(Options{Addresses: AddressPolicy{AllowPrivate: true}, Resolver: dns, SpanName: "n8n webhook", TracerProvider: tp})
	u := "http://n8n.example:" + port(t, rcv.Server) + "/webhook/0f9e-secret-path?token=q-secret-7"
	if _, err := post(context.Background(), c, u); err != nil {
		t.Fatal(err)
	}
	_, _ = post(context.Background(), c, "http://127.0.0.1:1/webhook/refused-secret-path")

	spans := rec.Ended()
	if len(spans) != 2 {
		t.Fatalf("%d spans, want 2", len(spans))
	}
	attrs := map[string]string{}
	for _, s := range spans {
		if s.Name() != "n8n webhook" {
			t.Fatalf("span name %q", s.Name())
		}
		for _, a := range s.Attributes() {
			if v := a.Value.Emit(); strings.Contains(v, "secret") || strings.Contains(v, "/webhook") {
				t.Fatalf("span attribute %s = %q holds the URL's path or query", a.Key, v)
			}
		}
		for _, e := range s.Events() {
			for _, a := range e.Attributes {
				if strings.Contains(a.Value.Emit(), "secret") {
					t.Fatalf("span event %s holds the URL", e.Name)
				}
			}
		}
		if strings.Contains(s.Status().Description, "secret") {
			t.Fatalf("span status %q holds the URL", s.Status().Description)
		}
	}
	for _, a := range spans[0].Attributes() {
		attrs[string(a.Key)] = a.Value.Emit()
	}
	want := map[string]string{"url.scheme": "http", "server.address": "n8n.example", "http.request.method": "POST", "http.response.status_code": "202"}
	for k, v := range want {
		if attrs[k] != v {
			t.Fatalf("attribute %s = %q, want %q (all: %v)", k, attrs[k], v, attrs)
		}
	}
	if errType := spans[1].Attributes(); len(errType) == 0 {
		t.Fatal("the refused call's span has no attributes")
	}
	if tp, _ := traceparent.Load().(string); tp != "" {
		t.Fatalf("trace context sent without Propagate: %q", tp)
	}
}
