package console_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/meterflow/meterflow/e2e/stack"
	"github.com/meterflow/meterflow/gateway/console"
)

// TestConsoleUserWebhooks: the user's page lists their webhook endpoints
// and recent deliveries, with the webhook-id an admin can give the user.
func TestConsoleUserWebhooks(t *testing.T) {
	t.Parallel()
	b := setup(t, console.Config{CookieSecure: true, LoginPerMinute: 1000})
	email := "hooks-" + randomHex() + "@example.com"
	userID := b.signUp(email)
	token := b.stack.Login(t, email, "user-password-1")
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	t.Cleanup(rcv.Close)
	r := b.stack.Do(t, stack.Request{Method: "POST", Path: "/v1/webhook-endpoints", Token: token,
		Body: map[string]any{"url": rcv.URL + "/console-hooks", "events": []string{"run.failed"}, "description": "ops pager"}})
	if r.Status != http.StatusCreated {
		t.Fatalf("endpoint: %d %s", r.Status, r.Body)
	}
	ping := b.stack.Do(t, stack.Request{Method: "POST", Path: "/v1/webhook-endpoints/" + r.JSON(t)["id"].(string) + "/test", Token: token})
	if ping.Status != http.StatusAccepted {
		t.Fatalf("test: %d %s", ping.Status, ping.Body)
	}
	id := ping.JSON(t)["id"].(string)

	br := b.newBrowser()
	br.mustLogin(b.admin)
	deadline := time.Now().Add(30 * time.Second)
	for {
		p := br.get("/users/" + userID)
		if p.Status != http.StatusOK {
			t.Fatalf("user page: %d %s", p.Status, p.Body)
		}
		if strings.Contains(p.Body, rcv.URL+"/console-hooks") && strings.Contains(p.Body, "ops pager") &&
			strings.Contains(p.Body, id) && strings.Contains(p.Body, "succeeded") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the user's page does not show the endpoint and its succeeded ping %s:\n%s", id, p.Body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
