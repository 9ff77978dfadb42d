package stack

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/meterflow/meterflow/gateway/webtest"
)

// pathOf returns the path and query of an emailed link, checking that it
// points at the gateway's public URL (PUBLIC_BASE_URL, the local default).
func pathOf(t *testing.T, link, path string) (string, string) {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil || u.Scheme+"://"+u.Host != "http://127.0.0.1:8080" || u.Path != path || u.Query().Get("token") == "" {
		t.Fatalf("link %q, want http://127.0.0.1:8080%s?token=…", link, path)
	}
	return u.Path + "?" + u.RawQuery, u.Query().Get("token")
}

// TestAccountLifecycle: sign up, open the verification email's link in a
// browser without JavaScript and verify; ask for a reset, set the new
// password through the API; the old password and the old logins stop
// working, the new password logs in, and a "password changed" email goes
// out. Every process is the real one; the links are read from the emails
// as the SMTP server received them.
func TestAccountLifecycle(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{})
	_, refresh, _ := s.Signup(t, "life@example.com", "first-password")
	tok := s.Login(t, "life@example.com", "first-password")
	if me := s.Do(t, Request{Method: "GET", Path: "/v1/me", Token: tok}).JSON(t); me["email_verified"] != false {
		t.Fatalf("a new user: %v", me)
	}

	// The verification email's link, opened in a browser.
	link, _ := pathOf(t, linkIn(t, s.email(t, "verify_email", "life@example.com", 1)), "/app/verify-email")
	br := webtest.New(t, s.URL)
	form := br.Get(link)
	if form.Status != http.StatusOK || !strings.Contains(form.Body, "Verify my email") {
		t.Fatalf("verification page: %d %s", form.Status, form.Body)
	}
	u, _ := url.Parse(link)
	done := br.Post("/app/verify-email", url.Values{"csrf": {webtest.CSRF(t, form)}, "token": {u.Query().Get("token")}})
	if done.Status != http.StatusOK || !strings.Contains(done.Body, "Email verified") {
		t.Fatalf("verifying: %d %s", done.Status, done.Body)
	}
	if me := s.Do(t, Request{Method: "GET", Path: "/v1/me", Token: tok}).JSON(t); me["email_verified"] != true {
		t.Fatalf("after the link: %v", me)
	}

	// A reset, through the API.
	if r := s.Do(t, Request{Method: "POST", Path: "/v1/auth/password-reset", Body: map[string]string{"email": "LIFE@example.com"}}); r.Status != http.StatusAccepted {
		t.Fatalf("reset request: %d %s", r.Status, r.Body)
	}
	_, token := pathOf(t, linkIn(t, s.email(t, "password_reset", "life@example.com", 1)), "/app/reset-password")
	confirm := Request{Method: "POST", Path: "/v1/auth/password-reset/confirm", Body: map[string]string{"token": token, "password": "second-password"}}
	if r := s.Do(t, confirm); r.Status != http.StatusNoContent {
		t.Fatalf("reset confirm: %d %s", r.Status, r.Body)
	}
	wantProblem(t, s.Do(t, confirm), http.StatusBadRequest, "invalid_token")

	wantProblem(t, s.Do(t, Request{Method: "POST", Path: "/v1/auth/login", Body: map[string]string{"email": "life@example.com", "password": "first-password"}}), http.StatusUnauthorized, "invalid_credentials")
	wantProblem(t, s.Do(t, Request{Method: "POST", Path: "/v1/auth/refresh", Body: map[string]string{"refresh_token": refresh}}), http.StatusUnauthorized, "invalid_token")
	s.Login(t, "life@example.com", "second-password")
	if changed := s.email(t, "password_changed", "life@example.com", 1); !strings.Contains(changed.Text, "was changed on") {
		t.Fatalf("password_changed email:\n%s", changed.Text)
	}
}
