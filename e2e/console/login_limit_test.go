package console_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/meterflow/meterflow/gateway/console"

	"github.com/gofiber/fiber/v2"
)

// TestLoginLimitPerIP shows "too many attempts" once an IP has used its attempts.
func TestLoginLimitPerIP(t *testing.T) {
	t.Parallel()
	b := setup(t, console.Config{LoginPerMinute: 3})
	br := b.newBrowser()
	for i := range 3 {
		if p := br.login(b.admin, "wrong-password"); p.Status != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i+1, p.Status)
		}
	}
	p := br.login(b.admin, adminPassword)
	if p.Status != http.StatusTooManyRequests || !strings.Contains(p.Body, "Too many attempts") {
		t.Fatalf("4th attempt: %d %s", p.Status, p.Body)
	}
	if sessionCookie(p.Header) != "" {
		t.Fatal("a throttled login got a session")
	}
	// Without COOKIE_SECURE the cookie is not Secure (plain http on localhost).
	br2 := b.newBrowser()
	if line := sessionCookie(b.withIP(br2, "10.0.0.9").login(b.admin, adminPassword).Header); line == "" || strings.Contains(strings.ToLower(line), "secure") {
		t.Fatalf("cookie with CookieSecure=false: %q", line)
	}
}

// withIP makes the console see br's requests as coming from ip.
func (b *bundle) withIP(br *browser, ip string) *browser {
	b.console.SetClientIP(func(x *fiber.Ctx) string {
		if x.Get("X-Test-IP") != "" {
			return x.Get("X-Test-IP")
		}
		return x.IP()
	})

	br.Client.Transport = headerTransport{"X-Test-IP": ip}
	return br
}

type headerTransport map[string]string

func (h headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range h {
		r.Header.Set(k, v)
	}
	return http.DefaultTransport.RoundTrip(r)
}
