package console_test

import (
	"context"
	"encoding/csv"
	"github.com/meterflow/meterflow/gateway/console"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	chromium "github.com/meterflow/meterflow/e2e/browser"
	"github.com/meterflow/meterflow/e2e/stack"
)

// artifactsDir is where the screenshots go: <repo>/artifacts/console (git-ignored).
func artifactsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("CONSOLE_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("..", "..", "artifacts", "console")
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestBrowser(t *testing.T) {
	t.Parallel()
	chrome := chromium.Path(t)
	shots := artifactsDir(t)
	// Plain http on 127.0.0.1, as in local development: COOKIE_SECURE=false.
	b := setup(t, console.Config{CookieSecure: false})
	rc := stack.EchoN8N(t)
	const userPassword = "shopper-password-1"
	userEmail := "shopper-" + randomHex() + "@example.com"
	userToken, _, userID := b.stack.Signup(t, userEmail, userPassword)

	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), chromium.Options(chrome, t.TempDir())...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()
	// The first run starts the browser; it must not carry a timeout.
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("starting Chromium at %s: %v (install it with `apt-get install chromium`)", chrome, err)
	}

	// do runs steps with a deadline so a missing element fails instead of hanging.
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		ctx, cancel := context.WithTimeout(bctx, 20*time.Second)
		defer cancel()
		if err := chromedp.Do(ctx, steps...); err != nil {
			body, _ := chromedp.Run(bctx, chromedp.OuterHTML(chromedp.CSS("body")))
			t.Fatalf("%s: %v\npage: %s", what, err, body)
		}
	}
	text := func(sel string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(bctx, 20*time.Second)
		defer cancel()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}
	// shot bounds each capture: Chromium's captureScreenshot once hung for
	// good (2026-12-07: the test sat 8 minutes in it, until the package's
	// 20-minute timeout would have ended it). A capture gets 30 s and one
	// more try; a second hang fails the test at once.
	shot := func(name string) {
		t.Helper()
		var png []byte
		var err error
		for range 2 {
			ctx, cancel := context.WithTimeout(bctx, 30*time.Second)
			png, err = chromedp.Run(ctx, chromedp.FullScreenshot(100))
			cancel()
			if err == nil {
				break
			}
		}
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(shots, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	loginAs := func(email, password string) {
		t.Helper()
		do("login form",
			chromedp.Navigate(b.url+"/login"),
			chromedp.WaitVisible(chromedp.CSS("#email")),
			chromedp.SendKeys(chromedp.CSS("#email"), email),
			chromedp.SendKeys(chromedp.CSS("#password"), password),
			chromedp.Click(chromedp.CSS(`form button[type="submit"]`)),
		)
	}

	// A non-admin is refused with a clear message.
	do("login page", chromedp.Navigate(b.url+"/login"), chromedp.WaitVisible(chromedp.CSS("#email")))
	shot("01-login")
	loginAs(userEmail, userPassword)
	do("refusal", chromedp.WaitVisible(chromedp.CSS(".alert")))
	if msg := text(".alert"); !strings.Contains(msg, "not an administrator") {
		t.Fatalf("non-admin login message = %q", msg)
	}
	shot("02-login-refused-non-admin")

	// The admin logs in and lands on the overview.
	loginAs(b.admin, adminPassword)
	do("overview", chromedp.WaitVisible(chromedp.CSS("nav.main")), chromedp.WaitVisible(chromedp.CSS(".cards")))
	if h := text("h1"); h != "Overview" {
		t.Fatalf("after login h1 = %q", h)
	}
	shot("03-overview")

	// Find the user by email.
	do("users search",
		chromedp.Click(chromedp.CSS(`nav.main a[href$="/users"]`)),
		chromedp.WaitVisible(chromedp.CSS("#q")),
		chromedp.SendKeys(chromedp.CSS("#q"), userEmail),
		chromedp.Submit(chromedp.CSS("#q")),
		chromedp.WaitVisible(chromedp.CSS(`td a[href$="/users/`+userID+`"]`)),
	)
	shot("04-users-search")
	do("open user", chromedp.Click(chromedp.CSS(`td a[href$="/users/`+userID+`"]`)), chromedp.WaitVisible(chromedp.CSS("#amount")))
	if bal := text("#balance"); bal != "$0.00" {
		t.Fatalf("balance before = %q", bal)
	}
	shot("05-user")

	// Adjust the balance with a reason, through the confirmation step.
	const reason = "Welcome credit for the browser test"
	do("adjust form",
		chromedp.SendKeys(chromedp.CSS("#amount"), "5.00"),
		chromedp.SendKeys(chromedp.CSS("#reason"), reason),
		chromedp.Click(chromedp.CSS(`form[action$="/adjust/confirm"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(".confirm-amounts")),
	)
	if s := text(".confirm-amounts"); !strings.Contains(s, "+$5.00") || !strings.Contains(s, "$0.00") {
		t.Fatalf("confirmation shows %q", s)
	}
	shot("06-adjust-confirm")
	do("confirm adjustment",
		chromedp.Click(chromedp.CSS(`form[action$="/adjust"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(".flash")),
	)
	if s := text(".flash"); !strings.Contains(s, "Balance adjusted by +$5.00") || !strings.Contains(s, "New balance: $5.00") {
		t.Fatalf("flash = %q", s)
	}
	if bal := text("#balance"); bal != "$5.00" {
		t.Fatalf("balance after = %q", bal)
	}
	shot("07-user-adjusted")

	// The audit log shows the adjustment with its reason.
	do("audit", chromedp.Click(chromedp.CSS(`nav.main a[href$="/audit"]`)), chromedp.WaitVisible(chromedp.CSS("table")))
	if s := text("tbody tr:first-child"); !strings.Contains(s, "wallet.adjust") || !strings.Contains(s, reason) {
		t.Fatalf("newest audit row = %q", s)
	}
	do("audit details", chromedp.Click(chromedp.CSS("tbody tr:first-child details summary")))
	shot("08-audit")

	// Create a workflow; the secret is write-only.
	do("new workflow",
		chromedp.Click(chromedp.CSS(`nav.main a[href$="/workflows"]`)),
		chromedp.WaitVisible(chromedp.CSS(`a[href$="/workflows/new"]`)),
	)
	shot("09-workflows-empty")
	do("workflow form",
		chromedp.Click(chromedp.CSS(`a[href$="/workflows/new"]`)),
		chromedp.WaitVisible(chromedp.CSS("#slug")),
		chromedp.SendKeys(chromedp.CSS("#slug"), "echo"),
		chromedp.SendKeys(chromedp.CSS("#name"), "Echo"),
		chromedp.SendKeys(chromedp.CSS("#description"), "Answers with its input"),
		chromedp.SendKeys(chromedp.CSS("#webhook_url"), rc.URL+"/webhook/echo"),
		chromedp.SendKeys(chromedp.CSS("#fee"), "0.25"),
		chromedp.Clear(chromedp.CSS("#timeout_ms")),
		chromedp.SendKeys(chromedp.CSS("#timeout_ms"), "5000"),
		chromedp.SendKeys(chromedp.CSS("#auth_header_name"), "X-N8N-Auth"),
		chromedp.SendKeys(chromedp.CSS("#auth_header_value"), "s3cr3t-value"),
		chromedp.SendKeys(chromedp.CSS("#reason"), "First workflow"),
	)
	shot("10-workflow-new")
	do("create workflow",
		chromedp.Click(chromedp.CSS(`main form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(".flash")),
	)
	if s := text("tbody"); !strings.Contains(s, "echo") || !strings.Contains(s, "$0.25") || !strings.Contains(s, "configured") || strings.Contains(s, "s3cr3t") {
		t.Fatalf("workflows table = %q", s)
	}
	shot("11-workflows")

	// A run through the public API, then its page with the JSON expanded.
	r := b.stack.Do(t, stack.Request{Method: "POST", Path: "/v1/workflows/echo/runs", Token: userToken,
		Body: map[string]any{"input": map[string]any{"order": map[string]any{"id": 42, "items": []string{"tea", "cake"}}}}})
	if r.Status != http.StatusOK {
		t.Fatalf("run: %d %s", r.Status, r.Body)
	}
	runID := r.JSON(t)["id"].(string)
	do("runs", chromedp.Click(chromedp.CSS(`nav.main a[href$="/runs"]`)), chromedp.WaitVisible(chromedp.CSS(`a[href$="/runs/`+runID+`"]`)))
	shot("12-runs")
	do("run page",
		chromedp.Click(chromedp.CSS(`a[href$="/runs/`+runID+`"]`)),
		chromedp.WaitVisible(chromedp.CSS("#run-input summary")),
		chromedp.Click(chromedp.CSS("#run-input summary")),
		chromedp.Click(chromedp.CSS("#run-output summary")),
		chromedp.WaitVisible(chromedp.CSS("#run-output pre")),
	)
	open, err := chromedp.Run(bctx, chromedp.AttributeValue(chromedp.CSS("#run-input"), "open"))
	if err != nil || !open.Exists {
		t.Fatalf("input JSON not expanded: %v %+v", err, open)
	}
	if s := text("#run-input pre"); !strings.Contains(s, "\"items\": [\n      \"tea\",") {
		t.Fatalf("input JSON is not pretty-printed: %q", s)
	}
	if s := text("#run-output pre"); !strings.Contains(s, "processed by the test receiver") {
		t.Fatalf("output JSON = %q", s)
	}
	shot("13-run")

	// Transactions, and their CSV export.
	do("transactions",
		chromedp.Click(chromedp.CSS(`nav.main a[href$="/transactions"]`)),
		chromedp.WaitVisible(chromedp.CSS("#user")),
		chromedp.SendKeys(chromedp.CSS("#user"), userEmail),
		chromedp.Submit(chromedp.CSS("#user")),
		chromedp.WaitVisible(chromedp.CSS("td.num")),
	)
	shot("14-transactions")
	href, err := chromedp.Run(bctx, chromedp.AttributeValue(chromedp.CSS("#export-csv"), "href"))
	if err != nil || !href.Exists {
		t.Fatalf("export link: %v", err)
	}
	cookies, err := chromedp.Run(bctx, func(ctx context.Context, tg *chromedp.Target) ([]*network.Cookie, error) {
		res, err := cdp.Call(ctx, tg, network.GetCookies, network.GetCookiesParams{URLs: []string{b.url + "/"}})
		return res.Cookies, err
	})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", strings.TrimSuffix(b.url, "/admin")+href.Value, nil)
	for _, c := range cookies {
		req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") ||
		!strings.Contains(resp.Header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("CSV export: %d %v", resp.StatusCode, resp.Header)
	}
	rows, err := csv.NewReader(strings.NewReader(string(body))).ReadAll()
	if err != nil {
		t.Fatalf("CSV does not parse: %v\n%s", err, body)
	}
	kinds := map[string]string{}
	for _, row := range rows[1:] {
		kinds[row[3]] = row[4]
	}
	if strings.Join(rows[0], ",") != transactionsHeader || kinds["adjustment"] != "500" || kinds["fee"] != "-25" {
		t.Fatalf("CSV rows = %v", rows)
	}

	// The other pages, for the record, then sign out.
	do("overview again", chromedp.Click(chromedp.CSS(`nav.main a[href$="/admin/"]`)), chromedp.WaitVisible(chromedp.CSS(".cards")))
	shot("15-overview-after")
	do("not found", chromedp.Navigate(b.url+"/runs/00000000-0000-4000-8000-000000000000"), chromedp.WaitVisible(chromedp.CSS("h1")))
	shot("16-not-found")
	do("sign out", chromedp.Click(chromedp.CSS(`.who button`)), chromedp.WaitVisible(chromedp.CSS(".note")))
	if s := text(".note"); !strings.Contains(s, "signed out") {
		t.Fatalf("after sign out: %q", s)
	}
	shot("17-signed-out")
}
