package console_test

import (
	"net/url"
	"testing"

	"github.com/meterflow/meterflow/gateway/console"
)

// TestFormsRefuseNonUTF8: form and query values that are not UTF-8 cannot
// travel in protobuf strings; the login form with such an email used to
// end in a 5xx "unavailable" page, now it is a 400.
func TestFormsRefuseNonUTF8(t *testing.T) {
	t.Parallel()
	b := setup(t, console.Config{LoginPerMinute: 1000})
	br := b.newBrowser()
	lp := br.get("/login")
	for _, form := range []url.Values{
		{"csrf": {csrf(t, lp)}, "email": {"\xff@example.com"}, "password": {"password-1"}},
		{"csrf": {csrf(t, lp)}, "email": {b.admin}, "password": {"pass\xc3"}},
	} {
		if p := br.post("/login", form); p.Status != 400 {
			t.Fatalf("login with non-UTF-8 form answered %d: %s", p.Status, p.Body)
		}
	}
	if p := br.get("/login?next=%ff"); p.Status != 400 {
		t.Fatalf("non-UTF-8 query answered %d", p.Status)
	}
	br.mustLogin(b.admin)
}
