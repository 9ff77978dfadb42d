package console_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/meterflow/meterflow/gateway/console"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/meterflow/meterflow/platform/callauth"
	identityv1 "github.com/meterflow/meterflow/proto/gen/meterflow/identity/v1"
	walletv1 "github.com/meterflow/meterflow/proto/gen/meterflow/wallet/v1"
)

// TestConsoleHTTP runs the console's HTTP-level checks against one stack
// (starting a stack costs seconds; the subtests share it).
func TestConsoleHTTP(t *testing.T) {
	t.Parallel()
	b := setup(t, console.Config{CookieSecure: true, LoginPerMinute: 1000})
	user := "user-" + randomHex() + "@example.com"
	userID := b.signUp(user)

	t.Run("security headers on every page", func(t *testing.T) {
		br := b.newBrowser()
		check := func(path string, p page) {
			t.Helper()
			if got := p.Header.Get("Content-Security-Policy"); got != console.CSP {
				t.Errorf("%s: console.CSP = %q", path, got)
			}
			for h, want := range map[string]string{"X-Frame-Options": "DENY", "Referrer-Policy": "same-origin", "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"} {
				if got := p.Header.Get(h); got != want {
					t.Errorf("%s: %s = %q, want %q", path, h, got, want)
				}
			}
		}
		for _, path := range []string{"/login", "/", "/users", "/static/site.css", "/nope"} {
			check("anonymous "+path, br.get(path))
		}
		br.mustLogin(b.admin)
		for _, path := range []string{"/", "/users", "/users/" + userID, "/transactions", "/runs", "/workflows", "/workflows/new", "/audit", "/nope", "/users/not-a-uuid"} {
			p := br.get(path)
			check(path, p)
			if missing := unlabelledFields(p.Body); len(missing) > 0 {
				t.Errorf("%s: form fields without a <label for>: %v", path, missing)
			}
			// The console.CSP allows neither inline scripts nor inline styles.
			for _, bad := range []string{"<script", "<style", " style=", " on"} {
				if bad == " on" {
					if regexp.MustCompile(` on[a-z]+=`).MatchString(p.Body) {
						t.Errorf("%s: inline event handler", path)
					}
					continue
				}
				if strings.Contains(p.Body, bad) {
					t.Errorf("%s: contains %q, which the console.CSP blocks", path, bad)
				}
			}
		}
		check("csv", br.get("/transactions.csv"))
	})

	t.Run("fiber app.Test: headers, redirect and CSRF without a network", func(t *testing.T) {
		resp, err := b.app.Test(httptest.NewRequest("GET", "/admin/users", nil), -1)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Content-Security-Policy") != console.CSP ||
			!strings.HasPrefix(resp.Header.Get("Location"), "/admin/login?next=") {
			t.Fatalf("anonymous /admin/users: %d %v", resp.StatusCode, resp.Header)
		}
		req := httptest.NewRequest("POST", "/admin/login", strings.NewReader("email=a%40b.c&password=x&csrf=abc"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(&http.Cookie{Name: console.LoginCookie, Value: "a-different-token-of-enough-length-0123456789"})
		resp, err = b.app.Test(req, -1)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Content-Security-Policy") != console.CSP {
			t.Fatalf("login with a mismatched token: %d", resp.StatusCode)
		}
	})

	t.Run("unknown pages and ids are 404 pages", func(t *testing.T) {
		br := b.newBrowser()
		br.mustLogin(b.admin)
		for _, path := range []string{"/nope", "/users/not-a-uuid", "/users/00000000-0000-4000-8000-000000000000", "/runs/00000000-0000-4000-8000-000000000000", "/workflows/no-such-flow"} {
			p := br.get(path)
			if p.Status != http.StatusNotFound || !strings.Contains(p.Body, "Not found") {
				t.Errorf("%s: %d %s", path, p.Status, p.Body)
			}
		}
	})

	t.Run("session cookie is HttpOnly, SameSite=Strict, Secure", func(t *testing.T) {
		br := b.newBrowser()
		r := br.login(b.admin, adminPassword)
		line := sessionCookie(r.Header)
		if line == "" {
			t.Fatalf("no session cookie: %v", r.Header)
		}
		for _, want := range []string{"HttpOnly", "SameSite=Strict", "Secure", "Path=/admin"} {
			if !strings.Contains(strings.ToLower(line), strings.ToLower(want)) {
				t.Errorf("session cookie %q lacks %s", line, want)
			}
		}
		value := strings.TrimPrefix(strings.SplitN(line, ";", 2)[0], console.SessionCookie+"=")
		if len(value) < 43 { // 256 bits in base64url
			t.Errorf("session id %q is shorter than 256 bits", value)
		}
	})

	t.Run("forms without a valid CSRF token are refused", func(t *testing.T) {
		br := b.newBrowser()
		// The login form: no token, a wrong token.
		br.get("/login")
		for _, tok := range []string{"", "forged"} {
			p := br.post("/login", url.Values{"csrf": {tok}, "email": {b.admin}, "password": {adminPassword}})
			if p.Status != http.StatusForbidden || sessionCookie(p.Header) != "" {
				t.Fatalf("login with csrf %q: %d, cookie %q", tok, p.Status, sessionCookie(p.Header))
			}
		}
		br.mustLogin(b.admin)
		before := balance(t, b, userID)
		forms := map[string]url.Values{
			"/logout":                             {},
			"/users/" + userID + "/adjust":        {"amount_cents": {"500"}, "reason": {"x"}, "key": {"3f1d1a4e-8c43-4a44-9d0a-2b4b8f1c0e11"}},
			"/users/" + userID + "/flags":         {"action": {"disable"}, "reason": {"x"}},
			"/workflows":                          {"slug": {"csrf-less"}, "name": {"x"}, "webhook_url": {"http://127.0.0.1:1/x"}},
			"/users/" + userID + "/flags/confirm": {"action": {"disable"}},
		}
		for path, form := range forms {
			for _, tok := range []string{"", "forged"} {
				f := url.Values{}
				for k, v := range form {
					f[k] = v
				}
				if tok != "" {
					f.Set("csrf", tok)
				}
				p := br.post(path, f)
				if p.Status != http.StatusForbidden {
					t.Errorf("POST %s with csrf %q: %d", path, tok, p.Status)
				}
			}
		}
		if got := balance(t, b, userID); got != before {
			t.Errorf("balance changed by a forged form: %d -> %d", before, got)
		}
		if p := br.get("/"); p.Status != http.StatusOK {
			t.Errorf("session ended by a forged logout: %d", p.Status)
		}
	})

	t.Run("a non-admin cannot log in", func(t *testing.T) {
		br := b.newBrowser()
		p := br.login(user, "user-password-1")
		if p.Status != http.StatusForbidden || !strings.Contains(p.Body, "not an administrator") {
			t.Fatalf("non-admin login: %d %s", p.Status, p.Body)
		}
		if sessionCookie(p.Header) != "" {
			t.Fatalf("non-admin got a session cookie")
		}
		if p := br.get("/"); p.Status != http.StatusSeeOther {
			t.Fatalf("non-admin reached the overview: %d", p.Status)
		}
		wrong := br.login(b.admin, "wrong-password")
		if wrong.Status != http.StatusUnauthorized || !strings.Contains(wrong.Body, "Wrong email or password") {
			t.Fatalf("wrong password: %d %s", wrong.Status, wrong.Body)
		}
	})

	t.Run("logout revokes the login and ends the session", func(t *testing.T) {
		br := b.newBrowser()
		r := br.login(b.admin, adminPassword)
		line := sessionCookie(r.Header)
		sid := strings.TrimPrefix(strings.SplitN(line, ";", 2)[0], console.SessionCookie+"=")
		s, err := b.console.LoadSession(context.Background(), sid)
		if err != nil {
			t.Fatal(err)
		}
		p := br.get("/")
		out := br.post("/logout", url.Values{"csrf": {csrf(t, p)}})
		if out.Status != http.StatusSeeOther || !strings.HasSuffix(out.Header.Get("Location"), "/admin/login?out=1") {
			t.Fatalf("logout: %d %v", out.Status, out.Header)
		}
		if p := br.get("/"); p.Status != http.StatusSeeOther {
			t.Fatalf("after logout: %d", p.Status)
		}
		// Even with the old cookie replayed, the session is gone.
		old := b.newBrowser()
		u, _ := url.Parse(b.url)
		old.Client.Jar.SetCookies(u, []*http.Cookie{{Name: console.SessionCookie, Value: sid, Path: "/admin"}})
		if p := old.get("/"); p.Status != http.StatusSeeOther {
			t.Fatalf("replayed cookie after logout: %d", p.Status)
		}
		_, err = b.identity.Refresh(context.Background(), &identityv1.RefreshRequest{RefreshToken: s.Refresh})
		if status.Code(err) != codes.Unauthenticated {
			t.Fatalf("refresh token after logout: %v", err)
		}
	})

	t.Run("an expiring access token is refreshed", func(t *testing.T) {
		br := b.newBrowser()
		r := br.login(b.admin, adminPassword)
		sid := strings.TrimPrefix(strings.SplitN(sessionCookie(r.Header), ";", 2)[0], console.SessionCookie+"=")
		s, err := b.console.LoadSession(context.Background(), sid)
		if err != nil {
			t.Fatal(err)
		}
		s.AccessExp = b.console.Now() // as if it expired now
		if err := b.console.SaveSession(context.Background(), s); err != nil {
			t.Fatal(err)
		}
		if p := br.get("/users"); p.Status != http.StatusOK {
			t.Fatalf("users after expiry: %d", p.Status)
		}
		s2, err := b.console.LoadSession(context.Background(), sid)
		if err != nil {
			t.Fatal(err)
		}
		if s2.Refresh == s.Refresh || !s2.AccessExp.After(b.console.Now()) || s2.Access == "" {
			t.Fatalf("tokens not renewed")
		}
	})

}

// balance reads a user's balance straight from the wallet.
func balance(t testing.TB, b *bundle, userID string) int64 {
	t.Helper()
	tok := b.stack.Login(t, b.admin, adminPassword)
	r, err := b.wallet.AdminGetWallets(callauth.WithUserToken(context.Background(), tok), &walletv1.AdminGetWalletsRequest{UserIds: []string{userID}})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.GetWallets()) == 0 {
		return 0
	}
	return r.GetWallets()[0].GetBalanceCents()
}

var hiddenInput = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// hiddenFields returns the hidden inputs of the form whose action ends with suffix.
func hiddenFields(body, actionSuffix string) url.Values {
	i := strings.Index(body, actionSuffix)
	if i < 0 {
		return nil
	}
	form := body[i:]
	if j := strings.Index(form, "</form>"); j >= 0 {
		form = form[:j]
	}
	v := url.Values{}
	for _, m := range hiddenInput.FindAllStringSubmatch(form, -1) {
		v.Set(m[1], m[2])
	}
	return v
}

var (
	fieldTag = regexp.MustCompile(`<(input|select|textarea)\b[^>]*>`)
	idAttr   = regexp.MustCompile(`\bid="([^"]+)"`)
)

// unlabelledFields lists the visible form fields of body that no <label for> names.
func unlabelledFields(body string) []string {
	var missing []string
	for _, tag := range fieldTag.FindAllString(body, -1) {
		if strings.Contains(tag, `type="hidden"`) {
			continue
		}
		m := idAttr.FindStringSubmatch(tag)
		if m == nil || !strings.Contains(body, `<label for="`+m[1]+`"`) {
			missing = append(missing, tag)
		}
	}
	return missing
}
