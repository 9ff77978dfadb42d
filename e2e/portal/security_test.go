package portal_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/meterflow/meterflow/e2e/stack"
	"github.com/meterflow/meterflow/gateway/webtest"
)

// TestPortalSecurity: the console's rules hold on the portal. Cookies are
// HttpOnly, SameSite=Strict and scoped to /app; every page has the strict
// CSP and no script; every form is refused without its CSRF token and
// changes nothing; the login page sends nobody elsewhere; logins are
// limited per client address.
func TestPortalSecurity(t *testing.T) {
	w := setup(t)
	s := w.s
	email := "sec-" + stack.RandomHex() + "@example.com"
	br := webtest.New(t, s.URL+"/app")

	// A public form without its token is refused.
	if p := br.Post("/signup", url.Values{"email": {email}, "password": {password}, "confirm": {password}}); p.Status != http.StatusForbidden {
		t.Fatalf("sign-up without its token: %d", p.Status)
	}
	form := br.Get("/signup")
	in := br.Post("/signup", url.Values{"csrf": {webtest.CSRF(t, form)}, "email": {email}, "password": {password}, "confirm": {password}})
	if in.Status != http.StatusSeeOther {
		t.Fatalf("sign-up: %d %s", in.Status, in.Body)
	}
	var session string
	for _, c := range in.Header.Values("Set-Cookie") {
		if strings.HasPrefix(c, "mf_app=") {
			session = strings.ToLower(c)
		}
	}
	for _, want := range []string{"httponly", "samesite=strict", "path=/app;"} {
		if !strings.Contains(session, want) {
			t.Errorf("session cookie lacks %s: %q", want, session)
		}
	}

	// Every page: the CSP, no script, no caching.
	for _, path := range []string{"/", "/topup", "/workflows", "/workflows/echo", "/runs", "/transactions", "/keys", "/webhooks", "/settings", "/account"} {
		p := br.Get(path)
		if p.Status != http.StatusOK || !strings.Contains(p.Header.Get("Content-Security-Policy"), "default-src 'none'") ||
			!strings.Contains(p.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") || p.Header.Get("Cache-Control") != "no-store" || strings.Contains(p.Body, "<script") {
			t.Errorf("GET %s: %d %v", path, p.Status, p.Header)
		}
	}

	// Every form of a signed-in user, without its token: refused, nothing done.
	for _, path := range []string{"/topup", "/workflows/echo", "/keys", "/webhooks", "/settings/low-balance", "/settings/auto-topup",
		"/settings/card", "/settings/card/remove", "/account/password", "/account/logout-all", "/resend-verification", "/logout"} {
		fields := url.Values{"amount": {"10"}, "name": {"forged"}, "url": {"https://evil.example/x"}, "event_run.succeeded": {"1"},
			"threshold": {"1"}, "current": {password}, "new": {"forged-password"}, "confirm": {"forged-password"}, "scope_runs:read": {"1"}}
		if p := br.Post(path, fields); p.Status != http.StatusForbidden {
			t.Errorf("POST %s without the token: %d", path, p.Status)
		}
		fields.Set("csrf", "forged")
		if p := br.Post(path, fields); p.Status != http.StatusForbidden {
			t.Errorf("POST %s with a forged token: %d", path, p.Status)
		}
	}
	if p := br.Get("/keys"); strings.Contains(p.Body, "forged") {
		t.Fatal("a forged form created a key")
	}
	if p := br.Get("/"); p.Status != http.StatusOK {
		t.Fatalf("the session did not survive the forged forms: %d", p.Status)
	}
	if r := s.Do(t, stack.Request{Method: "POST", Path: "/v1/auth/login", Body: map[string]string{"email": email, "password": password}}); r.Status != http.StatusOK {
		t.Fatalf("the password changed through a forged form: %d", r.Status)
	}

	// A changed password ends every other portal session at once; this one
	// stays. Signing out everywhere ends them all.
	other, third := webtest.New(t, s.URL+"/app"), webtest.New(t, s.URL+"/app")
	for _, b := range []*webtest.Browser{other, third} {
		if p := b.Login(email, password); p.Status != http.StatusSeeOther {
			t.Fatalf("second login: %d", p.Status)
		}
	}
	account := br.Get("/account")
	if p := br.Post("/account/password", url.Values{"csrf": {webtest.CSRF(t, account)}, "current": {password}, "new": {"a new password 2"}, "confirm": {"a new password 2"}}); p.Status != http.StatusSeeOther {
		t.Fatalf("change password: %d %s", p.Status, p.Body)
	}
	if p := other.Get("/runs"); p.Status != http.StatusSeeOther || !strings.Contains(p.Header.Get("Location"), "/app/login") {
		t.Fatalf("another session after the password change: %d %v", p.Status, p.Header)
	}
	if p := br.Get("/runs"); p.Status != http.StatusOK {
		t.Fatalf("the session that changed the password: %d", p.Status)
	}
	password := "a new password 2"
	if p := other.Login(email, password); p.Status != http.StatusSeeOther {
		t.Fatalf("login with the new password: %d", p.Status)
	}
	if p := other.Post("/account/logout-all", url.Values{"csrf": {webtest.CSRF(t, other.Get("/account"))}}); p.Status != http.StatusSeeOther {
		t.Fatalf("sign out everywhere: %d", p.Status)
	}
	for name, b := range map[string]*webtest.Browser{"the one that signed out everywhere": other, "another": br, "an older one": third} {
		if p := b.Get("/"); p.Status != http.StatusSeeOther || !strings.Contains(p.Header.Get("Location"), "/app/login") {
			t.Fatalf("%s after signing out everywhere: %d %v", name, p.Status, p.Header)
		}
	}

	// The login page keeps only its own site's paths as where to go next.
	for next, want := range map[string]string{
		"//evil.example/app": "/app/", "https://evil.example/": "/app/", "/app/runs?status=failed": "/app/runs?status=failed",
		"/admin": "/app/", `/app\@evil.example`: "/app/", "/app/logout": "/app/",
	} {
		nb := webtest.New(t, s.URL+"/app")
		lp := nb.Get("/login?next=" + url.QueryEscape(next))
		p := nb.Post("/login", url.Values{"csrf": {webtest.CSRF(t, lp)}, "email": {email}, "password": {password}, "next": {next}})
		if p.Status != http.StatusSeeOther || p.Header.Get("Location") != want {
			t.Errorf("login with next=%q: %d to %q, want %q", next, p.Status, p.Header.Get("Location"), want)
		}
	}

	// Logins are limited per client address (APP_LOGIN_PER_MINUTE, 10).
	limited := false
	for range 15 {
		nb := webtest.New(t, s.URL+"/app")
		p := nb.Post("/login", url.Values{"csrf": {webtest.CSRF(t, nb.Get("/login"))}, "email": {email}, "password": {"wrong password"}})
		if p.Status == http.StatusTooManyRequests && strings.Contains(p.Body, "Too many attempts") {
			limited = true
			break
		}
	}
	if !limited {
		t.Fatal("15 logins from one address in a row were not limited")
	}
}
