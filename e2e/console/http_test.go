package console_test

import (
	"context"
	"encoding/csv"
	"github.com/meterflow/meterflow/gateway/console"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/meterflow/meterflow/e2e/stack"
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

	t.Run("an adjustment confirmed twice is booked once", func(t *testing.T) {
		br := b.newBrowser()
		br.mustLogin(b.admin)
		up := br.get("/users/" + userID)
		before := balance(t, b, userID)
		conf := br.post("/users/"+userID+"/adjust/confirm", url.Values{"csrf": {csrf(t, up)}, "amount": {"12.50"}, "reason": {"goodwill credit"}})
		if conf.Status != http.StatusOK || !strings.Contains(conf.Body, "+$12.50") || !strings.Contains(conf.Body, dollars(before+1250)) {
			t.Fatalf("confirm page: %d %s", conf.Status, conf.Body)
		}
		form := hiddenFields(conf.Body, `/adjust"`)
		for range 2 {
			p := br.post("/users/"+userID+"/adjust", form)
			if p.Status != http.StatusSeeOther {
				t.Fatalf("apply: %d %s", p.Status, p.Body)
			}
		}
		if got := balance(t, b, userID); got != before+1250 {
			t.Fatalf("balance = %d, want %d", got, before+1250)
		}
		after := br.get("/users/" + userID)
		if !strings.Contains(after.Body, "Balance adjusted by +$12.50") || !strings.Contains(after.Body, "goodwill credit") {
			t.Fatalf("user page after adjustment lacks the notice or the audit entry: %s", after.Body)
		}
		// A debit beyond the balance is refused before and by the wallet.
		over := br.post("/users/"+userID+"/adjust/confirm", url.Values{"csrf": {csrf(t, after)}, "amount": {"-999999"}, "reason": {"too much"}})
		if !strings.Contains(over.Body, "larger than the available balance") {
			t.Fatalf("overdraft confirm: %d %s", over.Status, over.Body)
		}
		bad := br.post("/users/"+userID+"/adjust/confirm", url.Values{"csrf": {csrf(t, after)}, "amount": {"1.234"}, "reason": {"x"}})
		if bad.Status != http.StatusBadRequest || !strings.Contains(bad.Body, "enter dollars and cents") {
			t.Fatalf("bad amount: %d %s", bad.Status, bad.Body)
		}
	})

	t.Run("each adjustment form carries its own key, required, and the wallet's cap holds", func(t *testing.T) {
		br := b.newBrowser()
		br.mustLogin(b.admin)
		up := br.get("/users/" + userID)
		before := balance(t, b, userID)
		confirm := func(amount string) url.Values {
			t.Helper()
			conf := br.post("/users/"+userID+"/adjust/confirm", url.Values{"csrf": {csrf(t, up)}, "amount": {amount}, "reason": {"goodwill credit"}})
			if conf.Status != http.StatusOK {
				t.Fatalf("confirm %s: %d %s", amount, conf.Status, conf.Body)
			}
			return hiddenFields(conf.Body, `/adjust"`)
		}
		first, second := confirm("1.00"), confirm("1.00")
		if uuid.Validate(first.Get("key")) != nil || first.Get("key") == second.Get("key") {
			t.Fatalf("form keys %q and %q: want a fresh UUID per rendered form", first.Get("key"), second.Get("key"))
		}
		// Without its key, the form books nothing.
		keyless := url.Values{}
		for k, v := range first {
			if k != "key" {
				keyless[k] = v
			}
		}
		if p := br.post("/users/"+userID+"/adjust", keyless); p.Status != http.StatusBadRequest {
			t.Fatalf("keyless apply: %d %s", p.Status, p.Body)
		}
		// Over ADJUSTMENT_MAX_CENTS ($10,000.00): the wallet refuses and says why.
		over := br.post("/users/"+userID+"/adjust", confirm("10000.01"))
		if over.Status != http.StatusBadRequest || !strings.Contains(over.Body, "at most 1000000 cents") {
			t.Fatalf("over the cap: %d %s", over.Status, over.Body)
		}
		if got := balance(t, b, userID); got != before {
			t.Fatalf("balance = %d, want %d (nothing booked)", got, before)
		}
	})

	t.Run("workflow create, edit, deactivate", func(t *testing.T) {
		br := b.newBrowser()
		br.mustLogin(b.admin)
		tok := csrf(t, br.get("/workflows/new"))
		form := url.Values{"csrf": {tok}, "slug": {"flow-a"}, "name": {"Flow A"}, "webhook_url": {"http://127.0.0.1:9/hook"},
			"fee": {"abc"}, "timeout_ms": {"5000"}, "auth_header_name": {"X-Key"}, "auth_header_value": {"top-secret"}, "active": {"on"}}
		if p := br.post("/workflows", form); p.Status != http.StatusBadRequest || !strings.Contains(p.Body, "Fee: enter dollars") || strings.Contains(p.Body, "top-secret") {
			t.Fatalf("bad fee: %d %s", p.Status, p.Body)
		}
		form.Set("fee", "0.15")
		if p := br.post("/workflows", form); p.Status != http.StatusSeeOther {
			t.Fatalf("create: %d %s", p.Status, p.Body)
		}
		if p := br.post("/workflows", form); p.Status != http.StatusBadRequest || !strings.Contains(p.Body, "already uses flow-a") {
			t.Fatalf("duplicate slug: %d %s", p.Status, p.Body)
		}
		edit := br.get("/workflows/flow-a")
		if !strings.Contains(edit.Body, "configured") || strings.Contains(edit.Body, "top-secret") || !strings.Contains(edit.Body, `value="0.15"`) {
			t.Fatalf("edit form: %s", edit.Body)
		}
		upd := url.Values{"csrf": {tok}, "name": {"Flow A2"}, "webhook_url": {"http://127.0.0.1:9/hook2"}, "fee": {"0.20"}, "timeout_ms": {"6000"}, "auth_header_name": {"X-Key"}, "reason": {"rename"}}
		if p := br.post("/workflows/flow-a", upd); p.Status != http.StatusSeeOther {
			t.Fatalf("update: %d %s", p.Status, p.Body)
		}
		conf := br.post("/workflows/flow-a/active/confirm", url.Values{"csrf": {tok}, "active": {"false"}})
		if conf.Status != http.StatusOK || !strings.Contains(conf.Body, "refused at once") {
			t.Fatalf("deactivate confirm: %d %s", conf.Status, conf.Body)
		}
		if p := br.post("/workflows/flow-a/active", hiddenFields(conf.Body, `/active"`)); p.Status != http.StatusSeeOther {
			t.Fatalf("deactivate: %d %s", p.Status, p.Body)
		}
		// The edit changed the webhook URL without the secret: the secret,
		// given for the old URL, is cleared and must be entered again.
		list := br.get("/workflows")
		if !strings.Contains(list.Body, "Flow A2") || !strings.Contains(list.Body, "inactive") || !strings.Contains(list.Body, "$0.20") || !strings.Contains(list.Body, "no secret") {
			t.Fatalf("workflows after edits: %s", list.Body)
		}
		audit := br.get("/audit?source=workflow")
		if strings.Count(audit.Body, "workflow.update") != 2 || !strings.Contains(audit.Body, "workflow.create") || strings.Contains(audit.Body, "top-secret") {
			t.Fatalf("workflow audit: %s", audit.Body)
		}
	})

	t.Run("disable and enable a user through the confirmation", func(t *testing.T) {
		victim := "victim-" + randomHex() + "@example.com"
		id := b.signUp(victim)
		br := b.newBrowser()
		br.mustLogin(b.admin)
		tok := csrf(t, br.get("/users/"+id))
		conf := br.post("/users/"+id+"/flags/confirm", url.Values{"csrf": {tok}, "action": {"disable"}})
		if conf.Status != http.StatusOK || !strings.Contains(conf.Body, "every login they have ends now") {
			t.Fatalf("confirm: %d %s", conf.Status, conf.Body)
		}
		if p := br.post("/users/"+id+"/flags", url.Values{"csrf": {tok}, "action": {"disable"}, "reason": {""}}); p.Status != http.StatusBadRequest || !strings.Contains(p.Body, "Give a reason") {
			t.Fatalf("no reason: %d %s", p.Status, p.Body)
		}
		if p := br.post("/users/"+id+"/flags", url.Values{"csrf": {tok}, "action": {"disable"}, "reason": {"fraud check"}}); p.Status != http.StatusSeeOther {
			t.Fatalf("disable: %d %s", p.Status, p.Body)
		}
		page := br.get("/users/" + id)
		if !strings.Contains(page.Body, "Disable: done for "+victim) || !strings.Contains(page.Body, "disabled") || !strings.Contains(page.Body, "user.disable") || !strings.Contains(page.Body, "fraud check") {
			t.Fatalf("user page after disable: %s", page.Body)
		}
		if r := b.stack.Do(t, stack.Request{Method: "POST", Path: "/v1/auth/login", Body: map[string]string{"email": victim, "password": "user-password-1"}}); r.Status == http.StatusOK {
			t.Fatalf("a disabled user logged in: %s", r.Body)
		}
		if p := br.post("/users/"+id+"/flags", url.Values{"csrf": {tok}, "action": {"enable"}, "reason": {"cleared"}}); p.Status != http.StatusSeeOther {
			t.Fatalf("enable: %d %s", p.Status, p.Body)
		}
		// The admin's own page offers no way to lock themselves out.
		if own := br.get("/users/" + b.adminID); strings.Contains(own.Body, `value="disable"`) || !strings.Contains(own.Body, "your own account") {
			t.Fatalf("own page offers self-disable: %s", own.Body)
		}
	})

	t.Run("CSV export", func(t *testing.T) {
		br := b.newBrowser()
		br.mustLogin(b.admin)
		p := br.get("/transactions.csv?user=" + url.QueryEscape(user))
		if p.Status != http.StatusOK || !strings.HasPrefix(p.Header.Get("Content-Type"), "text/csv") {
			t.Fatalf("csv: %d %v", p.Status, p.Header)
		}
		rows, err := csv.NewReader(strings.NewReader(p.Body)).ReadAll()
		if err != nil {
			t.Fatalf("csv does not parse: %v\n%s", err, p.Body)
		}
		if strings.Join(rows[0], ",") != transactionsHeader || len(rows) < 2 {
			t.Fatalf("csv rows = %v", rows)
		}
		if p := br.get("/runs.csv"); p.Status != http.StatusOK || !strings.HasPrefix(p.Body, runsHeader) {
			t.Fatalf("runs csv: %d %s", p.Status, p.Body)
		}
	})
}

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
