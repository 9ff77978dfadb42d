package portal_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/meterflow/meterflow/e2e/browser"
	"github.com/meterflow/meterflow/e2e/stack"
	"github.com/meterflow/meterflow/gateway/webtest"
)

// TestPortalNewUserJourney walks a new user through the portal in
// headless Chromium, as the acceptance asks: sign up, verify the
// email from the link the mail server received, top up through Stripe
// Checkout (stripe-mock) and back to a page that waits for the signed
// event, run a workflow from the form, create and revoke an API key, and
// read the run. Along the way it takes the screenshots of docs/portal.md
// at desktop and phone width and checks that no page scrolls sideways on
// a 360 px phone.
func TestPortalNewUserJourney(t *testing.T) {
	w := setup(t)
	s := w.s
	app := s.URL + "/app"
	shots := shotsDir(t)
	b := browser.Start(t)
	email := "ada@example.com" // each stack has databases of its own; a fixed name keeps the screenshots steady
	submit := func(form string) chromedp.Action[chromedp.Void] {
		return chromedp.Click(css(form + " button[type=submit]"))
	}

	// A stranger is sent to the login page, which leads to the sign-up.
	b.Do("open /app", chromedp.Navigate(app), chromedp.WaitVisible(css("#email")))
	if loc := b.Location(); !strings.HasPrefix(loc, app+"/login") {
		t.Fatalf("/app for a stranger: at %s, want the login page", loc)
	}
	b.Shot(shots, "login-desktop")
	b.Do("sign-up page", chromedp.Click(css(`a[href="/app/signup"]`)), chromedp.WaitVisible(css("#confirm")))
	b.Shot(shots, "signup-desktop")
	b.Do("sign up",
		chromedp.SendKeys(css("#email"), email), chromedp.SendKeys(css("#password"), password),
		chromedp.SendKeys(css("#confirm"), password), submit(`form[action="/app/signup"]`),
		chromedp.WaitVisible(css(".cards")))
	if got := b.Text("main"); !strings.Contains(got, "Welcome to Meterflow") || !strings.Contains(got, "Verify your email address") || !strings.Contains(got, "$0.00") {
		t.Fatalf("dashboard after sign-up:\n%s", got)
	}

	// Until the email is verified, money waits (REQUIRE_VERIFIED_EMAIL).
	b.Do("top-up before verifying", chromedp.Navigate(app+"/topup"), chromedp.SetValue(css("#amount"), "25"),
		submit(`main form`), chromedp.WaitVisible(css(".alert")))
	if got := b.Text(".alert"); !strings.Contains(got, "Verify your email address first") {
		t.Fatalf("top-up before verification: %q", got)
	}

	// The link from the email, as the user would open it.
	b.Do("verify email", chromedp.Navigate(s.URL+verifyLink(t, s, email)), submit(`form[action="/app/verify-email"]`),
		chromedp.WaitVisible(css(".note")))
	if got := b.Text("main"); !strings.Contains(got, "Email verified") {
		t.Fatalf("verification page: %s", got)
	}

	// Top up $25: the form goes to Stripe Checkout, which sends the user
	// back before its webhook arrives; the page waits for it by itself.
	b.Do("top-up form", chromedp.Navigate(app+"/topup"), chromedp.WaitVisible(css("#amount")))
	b.Shot(shots, "topup-desktop")
	before := len(s.Stripe.Checkouts())
	b.Do("continue to payment", chromedp.SetValue(css("#amount"), "25"), submit(`main form`))
	c := newCheckout(t, s, before)
	if want := app + "/topups/" + c.Metadata["topup_id"] + "?return=success"; c.SuccessURL != want {
		t.Fatalf("Checkout returns to %q, want %q", c.SuccessURL, want)
	}
	b.Do("back from Checkout", chromedp.Navigate(c.SuccessURL), chromedp.WaitVisible(css(".badge.warn")))
	if got := b.Text("main"); !strings.Contains(got, "Waiting for Stripe to confirm your payment") {
		t.Fatalf("return page before the webhook: %s", got)
	}
	b.Shot(shots, "topup-waiting-desktop")
	pay(t, s, c, 2500)
	b.Do("the page sees the payment", chromedp.WaitVisible(css(".result.ok")))
	if got := b.Text("main"); !strings.Contains(got, "$25.00 is in your balance") {
		t.Fatalf("return page after the webhook: %s", got)
	}
	b.Shot(shots, "topup-paid-desktop")
	// The cancel page of the same top-up tells its real state too.
	b.Do("cancel page", chromedp.Navigate(c.CancelURL), chromedp.WaitVisible(css(".result.ok")))

	// Run the echo workflow from its form and read the run.
	b.Do("workflows", chromedp.Navigate(app+"/workflows"), chromedp.WaitVisible(css(`a[href="/app/workflows/echo"]`)))
	b.Shot(shots, "workflows-desktop")
	b.Do("run form", chromedp.Click(css(`a[href="/app/workflows/echo"]`)), chromedp.WaitVisible(css("#input")))
	b.Do("invalid input", chromedp.SetValue(css("#input"), "[1, 2]"), submit(`main form`), chromedp.WaitVisible(css("#input-error")))
	b.Do("start the run", chromedp.SetValue(css("#input"), `{"name": "Ada"}`))
	b.Shot(shots, "run-form-desktop")
	b.Do("run", submit(`main form`), chromedp.WaitVisible(css("h1 .badge.ok")))
	run := b.Text("main")
	for _, want := range []string{"succeeded", `"name": "Ada"`, "$0.25", "your login"} {
		if !strings.Contains(run, want) {
			t.Fatalf("run page lacks %q:\n%s", want, run)
		}
	}
	b.Shot(shots, "run-desktop")
	b.Do("dashboard", chromedp.Navigate(app+"/"), chromedp.WaitVisible(css(".cards")), chromedp.WaitVisible(css("#chart-spend")))
	if got := b.Text(".cards"); !strings.Contains(got, "$24.75") {
		t.Fatalf("balance after the top-up and one run: %s", got)
	}
	// The charts show today's spend and run as the services count them.
	page := get(b, chromedp.OuterHTML(css("main")))
	today := time.Now().UTC().Format(time.DateOnly)
	if v, ok := webtest.ReadChart(t, page, "chart-spend").Value(today, "spend"); !ok || v != fee {
		t.Fatalf("spend chart today: %d (%v), want %d", v, ok, fee)
	}
	if v, ok := webtest.ReadChart(t, page, "chart-runs").Value(today, "succeeded"); !ok || v != 1 {
		t.Fatalf("runs chart today: %d succeeded (%v), want 1", v, ok)
	}
	b.Shot(shots, "dashboard-desktop")
	b.Do("runs", chromedp.Navigate(app+"/runs?status=succeeded&workflow=echo"), chromedp.WaitVisible(css("table")))
	b.Shot(shots, "runs-desktop")
	b.Do("transactions", chromedp.Navigate(app+"/transactions"), chromedp.WaitVisible(css("table")))
	if got := b.Text("table"); !strings.Contains(got, "+$25.00") || !strings.Contains(got, "−$0.25") || !strings.Contains(got, "top-up ") || !strings.Contains(got, "run ") {
		t.Fatalf("transactions: %s", got)
	}
	b.Shot(shots, "transactions-desktop")

	// An API key: the secret once, it works, then revoked it stops.
	b.Do("keys", chromedp.Navigate(app+"/keys"), chromedp.SetValue(css("#name"), "nightly-report"),
		submit(`form[action="/app/keys"]`), chromedp.WaitVisible(css("#secret")))
	key := b.Value("#secret")
	if !strings.HasPrefix(key, "mfk_") {
		t.Fatalf("new key: %q", key)
	}
	b.Shot(shots, "keys-created-desktop")
	if r := s.Do(t, stack.Request{Method: "GET", Path: "/v1/runs", Token: key}); r.Status != http.StatusOK || !strings.Contains(string(r.Body), `"workflow":"echo"`) {
		t.Fatalf("the new key reads runs: %d %s", r.Status, r.Body)
	}
	b.Do("keys again", chromedp.Navigate(app+"/keys"), chromedp.WaitVisible(css("table")))
	if strings.Contains(b.Text("main"), key) {
		t.Fatal("the key's secret is shown again")
	}
	b.Do("revoke", chromedp.Click(css(`a[href$="/revoke"]`)), chromedp.WaitVisible(css("button.danger")), chromedp.Click(css("button.danger")),
		chromedp.WaitVisible(css(".flash")))
	deadline := time.Now().Add(5 * time.Second)
	for s.Do(t, stack.Request{Method: "GET", Path: "/v1/runs", Token: key}).Status != http.StatusUnauthorized {
		if time.Now().After(deadline) {
			t.Fatal("the revoked key still works after 5s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.Shot(shots, "keys-desktop")

	// A webhook endpoint: the secret once, a test event delivered, a retry.
	hook := newHookReceiver(t)
	b.Do("webhooks", chromedp.Navigate(app+"/webhooks"), chromedp.SetValue(css("#url"), hook.URL+"/meterflow"),
		chromedp.SetValue(css("#description"), "Order system"), submit(`form[action="/app/webhooks"]`), chromedp.WaitVisible(css("#secret")))
	if secret := b.Value("#secret"); !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("endpoint secret: %q", secret)
	}
	b.Shot(shots, "webhooks-desktop")
	b.Do("endpoint", chromedp.Click(css(`tbody a[href^="/app/webhooks/"]`)), chromedp.WaitVisible(css(`form[action$="/test"]`)),
		submit(`form[action$="/test"]`), chromedp.WaitVisible(css(".flash")))
	select {
	case ev := <-hook.events:
		if ev != "ping" {
			t.Fatalf("first event: %q, want ping", ev)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the test event did not arrive within 30s")
	}
	endpoint := b.Location()
	deadline = time.Now().Add(15 * time.Second)
	for {
		b.Do("deliveries", chromedp.Navigate(endpoint), chromedp.WaitVisible(css("table")))
		if strings.Contains(b.Text("tbody"), "succeeded") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the delivery is not shown as succeeded: %s", b.Text("tbody"))
		}
		time.Sleep(300 * time.Millisecond)
	}
	b.Do("retry", submit(`form[action$="/retry"]`), chromedp.WaitVisible(css(".flash")))
	select {
	case <-hook.events:
	case <-time.After(30 * time.Second):
		t.Fatal("the retried delivery did not arrive within 30s")
	}
	b.Shot(shots, "webhook-desktop")
	b.Do("settings", chromedp.Navigate(app+"/settings"), chromedp.WaitVisible(css("#low-threshold")))
	b.Do("low-balance email", chromedp.SetValue(css("#low-threshold"), "5"), submit(`form[action="/app/settings/low-balance"]`),
		chromedp.WaitVisible(css(".flash")))
	if got := b.Value("#low-threshold"); got != "5.00" {
		t.Fatalf("low-balance threshold after saving: %q", got)
	}
	b.Shot(shots, "settings-desktop")
	b.Do("account", chromedp.Navigate(app+"/account"), chromedp.WaitVisible(css("#current")))
	b.Shot(shots, "account-desktop")

	// The same pages on a 360 px phone: nothing scrolls sideways.
	b.Resize(browser.Phone)
	for _, pg := range []struct{ path, name, wait string }{
		{"/", "dashboard", ".cards"}, {"/topup", "topup", "#amount"}, {"/workflows", "workflows", "table"}, {"/workflows/echo", "run-form", "#input"},
		{"/runs", "runs", "table"}, {"/transactions", "transactions", "table"}, {"/keys", "keys", "#name"},
		{"/settings", "settings", "#low-threshold"}, {"/webhooks", "webhooks", "#url"}, {endpoint[len(app):], "webhook", "table"},
		{"/account", "account", "#current"},
	} {
		b.Do(pg.name+" on a phone", chromedp.Navigate(app+pg.path), chromedp.WaitVisible(css(pg.wait)))
		if sw := b.ScrollWidth(); sw > browser.Phone.Width {
			t.Errorf("%s is %d px wide on a %d px phone: %s", pg.path, sw, browser.Phone.Width, b.Overflowing())
		}
		b.Shot(shots, pg.name+"-phone")
	}
	b.Do("a run on a phone", chromedp.Navigate(app+"/runs"), chromedp.Click(css("tbody a")), chromedp.WaitVisible(css("h1 .badge")))
	b.Shot(shots, "run-phone")

	// Signing out ends the session: the pages ask for a login again.
	b.Do("sign out", chromedp.Click(css(`.who button`)), chromedp.WaitVisible(css("#email")))
	b.Shot(shots, "login-phone")
	b.Do("after signing out", chromedp.Navigate(app+"/runs"), chromedp.WaitVisible(css("#email")))
}

// css is a CSS selector.
func css(sel string) chromedp.CSS { return chromedp.CSS(sel) }

// get runs one action that returns a value within the tab's step.
func get[T any](b *browser.Tab, a chromedp.Action[T]) T {
	b.T.Helper()
	ctx, cancel := context.WithTimeout(b.Ctx, b.Step)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.T.Fatal(err)
	}
	return v
}
