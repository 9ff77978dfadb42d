package stack

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/meterflow/meterflow/gateway/webtest"
)

// TestNoLinkTokensInLogs: the whole account lifecycle (sign-up with its
// verification link, the link's page opened and posted, a resend, a reset
// requested and confirmed, refused links, a password change, log out
// everywhere) with every log line of the four processes captured at debug
// level: no link token, password or refresh token appears in any.
func TestNoLinkTokensInLogs(t *testing.T) {
	t.Parallel()
	sink := &logSink{}
	s := Start(t, Options{LogWriter: sink})
	const (
		first, second, third = "Link-Password-One-1", "Link-Password-Two-2", "Link-Password-Three-3"
		email                = "links@example.com"
	)
	secrets := secretSet{"first password": first, "second password": second, "third password": third}
	access, refresh, _ := s.Signup(t, email, first)
	secrets.addToken("access token", access)
	secrets.addOpaque("refresh token", refresh)

	wantStatus := func(r Response, status int) {
		t.Helper()
		if r.Status != status {
			t.Fatalf("status %d, want %d: %s", r.Status, status, r.Body)
		}
	}
	// Resend, then open the newest link's page and post it. The outbox
	// delivers in any order, so the sign-up's email is awaited first.
	s.email(t, "verify_email", email, 1)
	wantStatus(s.Do(t, Request{Method: "POST", Path: "/v1/me/verify-email", Token: access}), http.StatusAccepted)
	for n := 1; n <= 2; n++ {
		_, tok := pathOf(t, linkIn(t, s.email(t, "verify_email", email, n)), "/app/verify-email")
		secrets.addOpaque("verification token", tok)
	}
	link, tok := pathOf(t, linkIn(t, s.email(t, "verify_email", email, 2)), "/app/verify-email")
	br := webtest.New(t, s.URL)
	form := br.Get(link)
	if p := br.Post("/app/verify-email", url.Values{"csrf": {webtest.CSRF(t, form)}, "token": {tok}}); p.Status != http.StatusOK {
		t.Fatalf("verify page: %d %s", p.Status, p.Body)
	}
	wantStatus(s.Do(t, Request{Method: "POST", Path: "/v1/auth/verify-email", Body: map[string]string{"token": tok}}), http.StatusBadRequest)

	// A reset: two requests (the first link is voided), the old link refused, the new one used.
	reset := Request{Method: "POST", Path: "/v1/auth/password-reset", Body: map[string]string{"email": email}}
	wantStatus(s.Do(t, reset), http.StatusAccepted)
	_, old := pathOf(t, linkIn(t, s.email(t, "password_reset", email, 1)), "/app/reset-password")
	wantStatus(s.Do(t, reset), http.StatusAccepted)
	_, cur := pathOf(t, linkIn(t, s.email(t, "password_reset", email, 2)), "/app/reset-password")
	secrets.addOpaque("old reset token", old)
	secrets.addOpaque("reset token", cur)
	wantStatus(s.Do(t, Request{Method: "POST", Path: "/v1/auth/password-reset/confirm", Body: map[string]string{"token": old, "password": second}}), http.StatusBadRequest)
	wantStatus(s.Do(t, Request{Method: "POST", Path: "/v1/auth/password-reset/confirm", Body: map[string]string{"token": cur, "password": second}}), http.StatusNoContent)

	// A change with a wrong, then the right current password; log out everywhere.
	tok2 := s.Login(t, email, second)
	secrets.addToken("second access token", tok2)
	change := func(current string) Response {
		return s.Do(t, Request{Method: "POST", Path: "/v1/me/password", Token: tok2, Body: map[string]string{"current_password": current, "new_password": third}})
	}
	wantStatus(change(first), http.StatusUnauthorized)
	wantStatus(change(second), http.StatusNoContent)
	wantStatus(s.Do(t, Request{Method: "POST", Path: "/v1/auth/logout-all", Token: tok2}), http.StatusNoContent)
	s.email(t, "password_changed", email, 2)

	lines := sink.lines()
	if len(lines) < 10 {
		t.Fatalf("only %d log lines captured", len(lines))
	}
	var logged bool
	for _, line := range lines {
		logged = logged || strings.Contains(line, `"route":"/v1/auth/password-reset/confirm"`)
		if found := secrets.find(line); len(found) > 0 {
			t.Errorf("log line holds %v: %s", found, line)
		}
	}
	// The requests that carried tokens were logged (by route, never with
	// their body or query): the check above saw them.
	if !logged {
		t.Error("no access log line of the reset confirmations: the check above proves nothing about them")
	}
}
