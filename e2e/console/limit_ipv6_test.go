package console_test

import (
	"net/http"
	"testing"

	"github.com/meterflow/meterflow/gateway/console"
)

// TestLoginLimitKeysIPv6On64: the console's per-IP login budget of an IPv6
// client is its /64's, so a client cannot rotate through its own addresses.
func TestLoginLimitKeysIPv6On64(t *testing.T) {
	t.Parallel()
	b := setup(t, console.Config{LoginPerMinute: 2})
	// A new unknown email each time, so no per-account throttle interferes.
	attempt := func(ip string) int {
		return b.withIP(b.newBrowser(), ip).login("nobody-"+randomHex()+"@example.com", "wrong-password").Status
	}
	for i, ip := range []string{"2001:db8:1:2::1", "2001:db8:1:2::2"} {
		if got := attempt(ip); got != http.StatusUnauthorized {
			t.Fatalf("attempt %d from %s: %d", i+1, ip, got)
		}
	}
	if got := attempt("2001:db8:1:2:ffff::9"); got != http.StatusTooManyRequests {
		t.Fatalf("same /64: %d, want 429", got)
	}
	if got := attempt("2001:db8:1:3::1"); got != http.StatusUnauthorized {
		t.Fatalf("another /64: %d, want its own budget (401)", got)
	}
}
