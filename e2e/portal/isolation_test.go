package portal_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/meterflow/meterflow/e2e/browser"
	"github.com/meterflow/meterflow/e2e/stack"
	"github.com/meterflow/meterflow/gateway/webtest"
)

// alice is a user with one of everything, made through the API.
type alice struct {
	email, token                   string
	run, topUp, key, keyID, hookID string
	hookURL                        string
}

// newAlice signs a user up, verifies her email, credits her wallet and
// gives her a run, a top-up, an API key and a webhook endpoint.
func newAlice(t *testing.T, w *world) alice {
	t.Helper()
	s := w.s
	a := alice{email: "alice-" + stack.RandomHex() + "@example.com"}
	var id string
	a.token, _, id = s.Signup(t, a.email, password)
	link, _ := url.Parse(verifyLink(t, s, a.email))
	if r := s.Do(t, stack.Request{Method: "POST", Path: "/v1/auth/verify-email", Body: map[string]string{"token": link.Query().Get("token")}}); r.Status != http.StatusNoContent {
		t.Fatalf("verify: %d %s", r.Status, r.Body)
	}
	if r := s.Do(t, stack.Request{Method: "POST", Path: "/v1/admin/users/" + id + "/adjustments", Token: w.admin,
		Body: map[string]any{"amount_cents": 1000, "reason": "test credit"}, Headers: map[string]string{"Idempotency-Key": "alice-credit"}}); r.Status != http.StatusCreated {
		t.Fatalf("credit: %d %s", r.Status, r.Body)
	}
	do := func(method, path string, body any, want int) map[string]any {
		t.Helper()
		r := s.Do(t, stack.Request{Method: method, Path: path, Token: a.token, Body: body, Headers: map[string]string{"Idempotency-Key": stack.RandomHex()}})
		if r.Status != want {
			t.Fatalf("%s %s: %d %s", method, path, r.Status, r.Body)
		}
		return r.JSON(t)
	}
	a.run = do("POST", "/v1/workflows/echo/runs", map[string]any{"input": map[string]string{"secret": "alpha-secret-input"}}, http.StatusOK)["id"].(string)
	a.topUp = do("POST", "/v1/wallet/topups", map[string]any{"amount_cents": 4200}, http.StatusCreated)["id"].(string)
	k := do("POST", "/v1/api-keys", map[string]any{"name": "alice-key", "scopes": []string{"runs:read"}}, http.StatusCreated)
	a.key, a.keyID = k["key"].(string), k["id"].(string)
	a.hookURL = "https://hooks.alice.example/" + stack.RandomHex()
	a.hookID = do("POST", "/v1/webhook-endpoints", map[string]any{"url": a.hookURL, "events": []string{"run.succeeded"}}, http.StatusCreated)["id"].(string)
	return a
}

// TestPortalSecondUserSeesNoneOfIt: a second user, signed in to the
// portal, finds none of the first user's data on any page or export, gets
// the not-found page for each of her ids (the same as for an id that does
// not exist), and can change none of it. She signs in with the keyboard
// only, in Chromium.
func TestPortalSecondUserSeesNoneOfIt(t *testing.T) {
	w := setup(t)
	s := w.s
	a := newAlice(t, w)

	bob := webtest.New(t, s.URL+"/app")
	form := bob.Get("/signup")
	if p := bob.Post("/signup", url.Values{"csrf": {webtest.CSRF(t, form)}, "email": {"bob-" + stack.RandomHex() + "@example.com"},
		"password": {password}, "confirm": {password}}); p.Status != http.StatusSeeOther {
		t.Fatalf("bob's sign-up: %d %s", p.Status, p.Body)
	}
	csrf := webtest.CSRF(t, bob.Get("/"))

	// Her ids are not found, read or written, exactly like ids that do not exist.
	for _, path := range []string{"/runs/" + a.run, "/topups/" + a.topUp, "/keys/" + a.keyID + "/revoke", "/webhooks/" + a.hookID, "/webhooks/" + a.hookID + "/delete",
		"/runs/01a24fc0-0000-7000-8000-000000000000", "/topups/01a24fc0-0000-7000-8000-000000000000"} {
		if p := bob.Get(path); p.Status != http.StatusNotFound || !strings.Contains(p.Body, "Not found") {
			t.Errorf("GET %s: %d, want the 404 page", path, p.Status)
		}
	}
	for _, path := range []string{"/keys/" + a.keyID + "/revoke", "/webhooks/" + a.hookID + "/delete", "/webhooks/" + a.hookID + "/test",
		"/webhooks/" + a.hookID + "/enabled", "/webhooks/" + a.hookID + "/rotate"} {
		if p := bob.Post(path, url.Values{"csrf": {csrf}}); p.Status != http.StatusNotFound {
			t.Errorf("POST %s: %d, want 404", path, p.Status)
		}
	}
	if r := s.Do(t, stack.Request{Method: "GET", Path: "/v1/runs", Token: a.key}); r.Status != http.StatusOK {
		t.Fatalf("alice's key after bob's attempt: %d", r.Status)
	}
	if r := s.Do(t, stack.Request{Method: "GET", Path: "/v1/webhook-endpoints", Token: a.token}); !strings.Contains(string(r.Body), a.hookID) {
		t.Fatalf("alice's endpoint after bob's attempt: %s", r.Body)
	}

	// No page or file of his shows anything of hers.
	secrets := []string{a.run, a.topUp, a.keyID, a.key[:12], a.hookID, a.hookURL, a.email, "alpha-secret-input", "$9.75", "$42.00"}
	for _, path := range []string{"/", "/runs", "/runs?workflow=echo", "/transactions", "/keys", "/webhooks", "/settings", "/account", "/runs.csv", "/transactions.csv"} {
		p := bob.Get(path)
		if p.Status != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, p.Status, p.Body)
		}
		for _, secret := range secrets {
			if strings.Contains(p.Body, secret) {
				t.Errorf("%s shows alice's %q", path, secret)
			}
		}
		if strings.HasSuffix(path, ".csv") && strings.Count(strings.TrimSpace(p.Body), "\n") != 0 {
			t.Errorf("%s has rows: %q", path, p.Body)
		}
	}

	// In a real browser, with the keyboard only: sign in, open a page of hers.
	b := browser.Start(t)
	b.Do("sign in with the keyboard", chromedp.Navigate(s.URL+"/app/login"), chromedp.WaitVisible(css("#email")),
		chromedp.Focus(css("#email")), chromedp.KeyEvent(a.email), chromedp.KeyEvent(kb.Tab), chromedp.KeyEvent(password), chromedp.KeyEvent(kb.Enter),
		chromedp.WaitVisible(css(".cards")))
	if got := b.Text(".cards"); !strings.Contains(got, "$9.75") { // $10.00 credited, one run of $0.25
		t.Fatalf("alice's dashboard: %s", got)
	}
	b.Do("sign out", chromedp.Click(css(".who button")), chromedp.WaitVisible(css("#email")))
	b.Do("bob signs in", chromedp.Focus(css("#email")), chromedp.KeyEvent(bobEmail(t, bob)), chromedp.KeyEvent(kb.Tab),
		chromedp.KeyEvent(password), chromedp.KeyEvent(kb.Enter), chromedp.WaitVisible(css(".cards")))
	if got := b.Text("main"); !strings.Contains(got, "$0.00") || !strings.Contains(got, "No runs yet") {
		t.Fatalf("bob's dashboard: %s", got)
	}
	b.Do("alice's run", chromedp.Navigate(s.URL+"/app/runs/"+a.run), chromedp.WaitVisible(css("h1")))
	if got := b.Text("main"); !strings.Contains(got, "Not found") || strings.Contains(got, "alpha-secret-input") {
		t.Fatalf("bob opening alice's run: %s", got)
	}
}

// bobEmail reads the signed-in user's email from his account page.
func bobEmail(t *testing.T, bob *webtest.Browser) string {
	t.Helper()
	body := bob.Get("/account").Body
	i := strings.Index(body, "<dt>Email</dt><dd>")
	if i < 0 {
		t.Fatalf("no email on the account page: %s", body)
	}
	rest := body[i+len("<dt>Email</dt><dd>"):]
	return rest[:strings.Index(rest, "</dd>")]
}
