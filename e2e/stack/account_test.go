package stack

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/meterflow/meterflow/gateway/webtest"
	notifyv1 "github.com/meterflow/meterflow/proto/gen/meterflow/notify/v1"
)

// mailbox stands in for notify: it keeps what identity's outbox hands
// over, once per idempotency key, as notify does.
type mailbox struct {
	mu     sync.Mutex
	emails []*notifyv1.SendEmailRequest
	seen   map[string]bool
}

func (m *mailbox) SendEmail(_ context.Context, req *notifyv1.SendEmailRequest, _ ...grpc.CallOption) (*notifyv1.SendEmailResponse, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.seen[req.GetIdempotencyKey()] {
		m.seen[req.GetIdempotencyKey()] = true
		m.emails = append(m.emails, req)
	}
	return &notifyv1.SendEmailResponse{EmailId: req.GetIdempotencyKey()}, nil
}

// wait returns the n-th email (1-based) of template to userID once it
// has arrived.
func (m *mailbox) wait(t *testing.T, template, userID string, n int) *notifyv1.SendEmailRequest {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		m.mu.Lock()
		var got []*notifyv1.SendEmailRequest
		for _, e := range m.emails {
			if e.GetTemplate() == template && e.GetToUserId() == userID {
				got = append(got, e)
			}
		}
		m.mu.Unlock()
		if len(got) >= n {
			return got[n-1]
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no %s email #%d to %s within 30 s", template, n, userID)
	return nil
}

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
// out. Identity, wallet, workflow and the gateway are the real ones; the
// emails are taken where identity's outbox hands them to notify.
func TestAccountLifecycle(t *testing.T) {
	t.Parallel()
	box := &mailbox{seen: map[string]bool{}}
	s := Start(t, Options{Notify: box})
	_, refresh, uid := s.Signup(t, "life@example.com", "first-password")
	tok := s.Login(t, "life@example.com", "first-password")
	if me := s.Do(t, Request{Method: "GET", Path: "/v1/me", Token: tok}).JSON(t); me["email_verified"] != false {
		t.Fatalf("a new user: %v", me)
	}

	// The verification email's link, opened in a browser.
	link, _ := pathOf(t, box.wait(t, "verify_email", uid, 1).GetData()["link"], "/app/verify-email")
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
	_, token := pathOf(t, box.wait(t, "password_reset", uid, 1).GetData()["link"], "/app/reset-password")
	confirm := Request{Method: "POST", Path: "/v1/auth/password-reset/confirm", Body: map[string]string{"token": token, "password": "second-password"}}
	if r := s.Do(t, confirm); r.Status != http.StatusNoContent {
		t.Fatalf("reset confirm: %d %s", r.Status, r.Body)
	}
	wantProblem(t, s.Do(t, confirm), http.StatusBadRequest, "invalid_token")

	wantProblem(t, s.Do(t, Request{Method: "POST", Path: "/v1/auth/login", Body: map[string]string{"email": "life@example.com", "password": "first-password"}}), http.StatusUnauthorized, "invalid_credentials")
	wantProblem(t, s.Do(t, Request{Method: "POST", Path: "/v1/auth/refresh", Body: map[string]string{"refresh_token": refresh}}), http.StatusUnauthorized, "invalid_token")
	s.Login(t, "life@example.com", "second-password")
	if changed := box.wait(t, "password_changed", uid, 1); changed.GetData()["changed_at"] == "" {
		t.Fatalf("password_changed email %v", changed)
	}
}
