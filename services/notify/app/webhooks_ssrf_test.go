package app_test

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/meterflow/meterflow/platform/safehttp/dnstest"
	notifyv1 "github.com/meterflow/meterflow/proto/gen/meterflow/notify/v1"
	"github.com/meterflow/meterflow/services/notify/app"
)

// TestWebhookPrivateAddressesRefused: without WEBHOOK_ALLOW_PRIVATE a URL
// whose host is, or resolves to, a private address is refused when it is
// set, and a name that resolves to one only later is refused when the
// attempt dials it: the receiver on loopback never hears of the event.
func TestWebhookPrivateAddressesRefused(t *testing.T) {
	t.Parallel()
	dns := dnstest.StartServer(t, map[string][]netip.Addr{
		"internal.example": {netip.MustParseAddr("10.1.2.3")},
		"mapped.example":   {netip.MustParseAddr("::ffff:127.0.0.1")},
	})
	hh := setupHooks(t, func(c *app.Config) {
		c.Webhooks.AllowPrivate = false
		c.Webhooks.Resolver = dns.Resolver
	})
	user := hh.identity.addUser("ada@example.com", true)
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { hits.Add(1) }))
	t.Cleanup(srv.Close)
	port := srv.URL[strings.LastIndex(srv.URL, ":"):]

	for _, url := range []string{
		srv.URL,                            // 127.0.0.1 itself
		"http://[::1]" + port,              // IPv6 loopback
		"http://[::ffff:127.0.0.1]" + port, // IPv4-mapped loopback
		"http://169.254.169.254/latest",    // cloud metadata
		"http://internal.example" + port,   // a name resolving to a private address
		"http://mapped.example" + port,     // a name resolving to mapped loopback
		"http://user:pw@hooks.example/x",   // credentials
		"ftp://hooks.example/x",            // not http(s)
		"http://hooks.example/x#fragment",  // a fragment
		"/relative",                        // not absolute
	} {
		_, err := hh.hooks.CreateEndpoint(hh.as(t, user), &notifyv1.CreateEndpointRequest{Url: url, Events: []string{"run.succeeded"}})
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("CreateEndpoint(%s) = %v, want InvalidArgument", url, err)
		}
	}

	// Not resolvable when set; resolving to loopback when the attempt dials.
	ep := hh.create(t, user, "http://later.example"+port+"/hooks", "run.succeeded")
	dns.Set("later.example", netip.MustParseAddr("127.0.0.1"))
	hh.publish(t, user, "run.succeeded", map[string]any{"id": "r1"})
	d := hh.waitDelivery(t, user, ep.GetEndpoint().GetId(), settled)
	if d.GetStatus() != "failed" || d.GetLastResponseStatus() != 0 || !strings.Contains(d.GetLastError(), "not allowed") {
		t.Fatalf("delivery = %v", d)
	}
	if hits.Load() != 0 {
		t.Fatalf("the loopback receiver got %d requests", hits.Load())
	}
}

// TestWebhookRedirectNotFollowed: a 3xx answer is a failed attempt, and
// the address it points at is never called.
func TestWebhookRedirectNotFollowed(t *testing.T) {
	t.Parallel()
	hh := setupHooks(t, nil)
	user := hh.identity.addUser("ada@example.com", true)
	var hits atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { hits.Add(1) }))
	t.Cleanup(target.Close)
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/metadata", http.StatusTemporaryRedirect)
	}))
	t.Cleanup(redirect.Close)
	ep := hh.create(t, user, redirect.URL, "run.succeeded")
	hh.publish(t, user, "run.succeeded", map[string]any{"id": "r1"})
	d := hh.waitDelivery(t, user, ep.GetEndpoint().GetId(), settled)
	if d.GetStatus() != "failed" || d.GetLastResponseStatus() != 307 || !strings.Contains(d.GetLastError(), "redirects are not followed") {
		t.Fatalf("delivery = %v", d)
	}
	if hits.Load() != 0 {
		t.Fatalf("the redirect's target got %d requests", hits.Load())
	}
}
