package console_test

import (
	"encoding/csv"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/meterflow/meterflow/gateway/console"

	"github.com/google/uuid"

	"github.com/meterflow/meterflow/e2e/stack"
)

// TestConsoleActions runs the console's actions (adjustments, workflows,
// users, exports) against one stack of its own, beside TestConsoleHTTP's.
func TestConsoleActions(t *testing.T) {
	t.Parallel()
	b := setup(t, console.Config{CookieSecure: true, LoginPerMinute: 1000})
	user := "user-" + randomHex() + "@example.com"
	userID := b.signUp(user)

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
