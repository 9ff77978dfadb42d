package stack

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meterflow/meterflow/services/wallet/stripeevents"
)

// logSink collects the log lines of every process; the processes log from
// many goroutines, so writes are serialised.
type logSink struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logSink) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logSink) lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Split(strings.TrimSpace(l.buf.String()), "\n")
}

// secretSet is every value that must never appear in a log line or an
// error body, by name.
type secretSet map[string]string

// addToken adds a JWT and its signature part, so a log line holding only
// a piece of the token is caught too.
func (s secretSet) addToken(name, tok string) {
	s[name] = tok
	if parts := strings.Split(tok, "."); len(parts) == 3 {
		s[name+" signature"] = parts[2]
	}
}

// addOpaque adds an opaque token and each long dot- or underscore-separated
// piece of it.
func (s secretSet) addOpaque(name, tok string) {
	s[name] = tok
	for _, p := range strings.FieldsFunc(tok, func(r rune) bool { return r == '.' || r == '_' }) {
		if len(p) >= 16 {
			s[name+" part"] = p
		}
	}
}

func (s secretSet) find(text string) []string {
	var found []string
	for name, v := range s {
		if v != "" && (strings.Contains(text, v) || strings.Contains(text, url.QueryEscape(v))) {
			found = append(found, name)
		}
	}
	return found
}

// leakPatterns are what an error body must never show: stack traces, SQL,
// Go error chains with file paths, dial errors.
var leakPatterns = []*regexp.Regexp{
	regexp.MustCompile(`goroutine \d+`),
	regexp.MustCompile(`\.go:\d+`),
	regexp.MustCompile(`(?i)\bpanic\b`),
	regexp.MustCompile(`(?i)\b(select|insert|update|delete)\b[^"]*\b(from|into|set|where)\b`),
	regexp.MustCompile(`(?i)sqlstate|pgx|pgconn|pq:|duplicate key|violates|relation "|syntax error at`),
	regexp.MustCompile(`rpc error|desc = |code = [A-Z]`),
	regexp.MustCompile(`(?i)dial tcp|connection refused|broken pipe|i/o timeout|EOF`),
	regexp.MustCompile(`/(work|home|usr|root|tmp)/`),
	regexp.MustCompile(`(?i)\blocalhost\b|127\.0\.0\.1|:5432\b|:6379\b`),
}

// TestNoSecretsInLogsOrErrors runs a whole scenario (signup, login,
// refresh, logout, a bad login, a top-up paid by a signed webhook, a
// workflow with an auth header secret, a paid and a failed run, an admin
// adjustment, many refusals and a forced server error) with every log
// line of the four processes captured, then fails on any password, access
// or refresh token (or its signature), Stripe key, webhook secret,
// INTERNAL_AUTH_SECRET, secrets key or workflow auth value in a log line,
// and on any error body showing a stack trace, SQL, a Go error chain, a
// file path, an internal address, or a secret.
func TestNoSecretsInLogsOrErrors(t *testing.T) {
	t.Parallel()
	sink := &logSink{}
	s := Start(t, Options{RunsPerMinute: 100, LogWriter: sink})
	secrets := secretSet{
		"INTERNAL_AUTH_SECRET":  Secret,
		"Stripe webhook secret": WebhookSecret,
		"Stripe secret key":     "sk_test_123",
		"WORKFLOW_SECRETS_KEY":  "0123456789abcdef0123456789abcdef",
		"admin password":        "admin-password-1",
	}
	const (
		password    = "Secret-Password-of-Ada-7"
		badPassword = "Wrong-Password-of-Ada-9"
		wfSecret    = "wf-auth-value-5f1c9e2b7a"
	)
	secrets["password"] = password
	secrets["bad password"] = badPassword
	secrets["workflow auth value"] = wfSecret

	// Every answer of 400 or more is kept for the body checks.
	var errorsSeen []Response
	do := func(r Request) Response {
		t.Helper()
		resp := s.Do(t, r)
		if resp.Status >= 400 {
			errorsSeen = append(errorsSeen, resp)
		}
		return resp
	}
	want := func(r Response, status int) Response {
		t.Helper()
		if r.Status != status {
			t.Fatalf("status %d, want %d: %s", r.Status, status, r.Body)
		}
		return r
	}

	// Accounts.
	email := "ada-secrets@example.com"
	r := want(do(Request{Method: "POST", Path: "/v1/auth/signup", Body: creds(email, password)}), 201)
	signup := r.JSON(t)
	userID := signup["user"].(map[string]any)["id"].(string)
	secrets.addToken("signup access token", signup["access_token"].(string))
	secrets.addOpaque("signup refresh token", signup["refresh_token"].(string))
	want(do(Request{Method: "POST", Path: "/v1/auth/signup", Body: creds(email, password)}), 409)
	want(do(Request{Method: "POST", Path: "/v1/auth/login", Body: creds(email, badPassword)}), 401)
	r = want(do(Request{Method: "POST", Path: "/v1/auth/login", Body: creds(email, password)}), 200)
	login := r.JSON(t)
	access := login["access_token"].(string)
	secrets.addToken("access token", access)
	secrets.addOpaque("login refresh token", login["refresh_token"].(string))
	r = want(do(Request{Method: "POST", Path: "/v1/auth/refresh", Body: map[string]string{"refresh_token": login["refresh_token"].(string)}}), 200)
	refreshed := r.JSON(t)
	secrets.addToken("refreshed access token", refreshed["access_token"].(string))
	secrets.addOpaque("refreshed refresh token", refreshed["refresh_token"].(string))
	// Reusing the rotated token is refused (and revokes the family).
	want(do(Request{Method: "POST", Path: "/v1/auth/refresh", Body: map[string]string{"refresh_token": login["refresh_token"].(string)}}), 401)
	want(do(Request{Method: "POST", Path: "/v1/auth/logout", Body: map[string]string{"refresh_token": refreshed["refresh_token"].(string)}}), 204)
	r = want(do(Request{Method: "POST", Path: "/v1/auth/login", Body: creds(email, password)}), 200)
	access = r.JSON(t)["access_token"].(string)
	secrets.addToken("second access token", access)
	secrets.addOpaque("second refresh token", r.JSON(t)["refresh_token"].(string))
	want(do(Request{Method: "GET", Path: "/v1/me", Token: access}), 200)
	want(do(Request{Method: "GET", Path: "/v1/me", Token: access[:len(access)-4] + "AAAA"}), 401)
	admin := s.Admin(t)
	secrets.addToken("admin access token", admin)

	// A top-up paid by a signed webhook; a forged one refused.
	r = want(do(Request{Method: "POST", Path: "/v1/wallet/topups", Token: access, Body: map[string]any{"amount_cents": 1000},
		Headers: map[string]string{"Idempotency-Key": "secrets-topup"}}), 201)
	top := r.JSON(t)
	event := stripeevents.CheckoutSessionEvent("", "checkout.session.completed", stripeevents.Session{
		ID: top["checkout_session_id"].(string), TopUpID: top["id"].(string), UserID: userID, AmountTotal: 1000,
		Currency: "usd", PaymentStatus: "paid", PaymentIntentID: "pi_secrets_1",
	})
	want(do(Request{Method: "POST", Path: "/v1/webhooks/stripe", Body: event,
		Headers: map[string]string{"Stripe-Signature": stripeevents.Sign(event, "whsec_forged", time.Now())}}), 400)
	want(do(Request{Method: "POST", Path: "/v1/webhooks/stripe", Body: event,
		Headers: map[string]string{"Stripe-Signature": stripeevents.Sign(event, WebhookSecret, time.Now())}}), 200)
	want(do(Request{Method: "POST", Path: "/v1/wallet/topups", Token: access, Body: map[string]any{"amount_cents": 2000},
		Headers: map[string]string{"Idempotency-Key": "secrets-topup"}}), 422)

	// Workflows with an auth header secret: one answers, one fails.
	var mu sync.Mutex
	var gotSecrets []string
	receiver := func(status int) string {
		srv := newTestServer(t, func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			gotSecrets = append(gotSecrets, r.Header.Get("X-N8N-Auth"))
			mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_, _ = w.Write([]byte(`{"message":"done"}`))
		})
		return srv
	}
	for slug, status := range map[string]int{"greet": 200, "broken": 500} {
		want(do(Request{Method: "POST", Path: "/v1/admin/workflows", Token: admin, Body: map[string]any{
			"slug": slug, "name": slug, "description": "secrets test", "webhook_url": receiver(status) + "/webhook/" + slug,
			"auth_header_name": "X-N8N-Auth", "auth_header_value": wfSecret, "fee_cents": 10, "timeout_ms": 5000, "active": true,
		}}), 201)
	}
	want(do(Request{Method: "POST", Path: "/v1/admin/workflows", Token: access, Body: map[string]any{"slug": "x"}}), 403)
	want(do(Request{Method: "POST", Path: "/v1/workflows/greet/runs", Token: access, Body: map[string]any{"input": map[string]any{"name": "ada"}}}), 200)
	want(do(Request{Method: "POST", Path: "/v1/workflows/broken/runs", Token: access, Body: map[string]any{"input": map[string]any{}}}), 502)
	want(do(Request{Method: "POST", Path: "/v1/workflows/nope/runs", Token: access, Body: map[string]any{"input": map[string]any{}}}), 404)
	want(do(Request{Method: "POST", Path: "/v1/workflows/greet/runs", Token: access, Body: `{"input":`}), 400)
	want(do(Request{Method: "POST", Path: "/v1/workflows/greet/runs", Token: access, Body: map[string]any{"input": map[string]any{"n": json.Number("1e1000000")}}}), 400)
	mu.Lock()
	if len(gotSecrets) != 2 || gotSecrets[0] != wfSecret || gotSecrets[1] != wfSecret {
		t.Errorf("the receivers got auth headers %q, want the workflow's secret twice", gotSecrets)
	}
	mu.Unlock()

	// An API key: created, used for a run and outside its scopes, revoked,
	// then refused; never logged.
	r = want(do(Request{Method: "POST", Path: "/v1/api-keys", Token: access, Body: map[string]any{"name": "secrets", "scopes": []string{"runs:write"}}}), 201)
	apiKey := r.JSON(t)["key"].(string)
	secrets.addOpaque("API key", apiKey)
	want(do(Request{Method: "POST", Path: "/v1/workflows/greet/runs", Token: apiKey, Body: map[string]any{"input": map[string]any{}}}), 200)
	want(do(Request{Method: "GET", Path: "/v1/wallet", Token: apiKey}), 403)
	want(do(Request{Method: "DELETE", Path: "/v1/api-keys/" + r.JSON(t)["id"].(string), Token: access}), 204)
	want(do(Request{Method: "GET", Path: "/v1/runs", Token: apiKey}), 401)

	// Admin adjustments: one booked, one refused.
	want(do(Request{Method: "POST", Path: "/v1/admin/users/" + userID + "/adjustments", Token: admin,
		Body: map[string]any{"amount_cents": 500, "reason": "goodwill"}, Headers: map[string]string{"Idempotency-Key": "adj-1"}}), 201)
	want(do(Request{Method: "POST", Path: "/v1/admin/users/" + userID + "/adjustments", Token: admin,
		Body: map[string]any{"amount_cents": -100000, "reason": "too much"}, Headers: map[string]string{"Idempotency-Key": "adj-2"}}), 422)
	want(do(Request{Method: "GET", Path: "/v1/admin/runs?limit=0", Token: admin}), 400)
	want(do(Request{Method: "GET", Path: "/v1/admin/users/not-a-uuid", Token: admin}), 404)
	want(do(Request{Method: "POST", Path: "/v1/auth/login", Body: "email=ada", Headers: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}}), 415)

	// A forced server error: the wallet loses its database pool. The
	// gateway must answer 5xx without saying why.
	s.Wallet.Close()
	r = do(Request{Method: "GET", Path: "/v1/wallet", Token: access})
	if r.Status < 500 {
		t.Fatalf("wallet without a database answered %d: %s", r.Status, r.Body)
	}
	r = do(Request{Method: "POST", Path: "/v1/webhooks/stripe", Body: event,
		Headers: map[string]string{"Stripe-Signature": stripeevents.Sign(event, WebhookSecret, time.Now())}})
	if r.Status < 500 {
		t.Fatalf("a webhook the wallet cannot store answered %d (Stripe would not retry): %s", r.Status, r.Body)
	}

	r = do(Request{Method: "POST", Path: "/v1/workflows/greet/runs", Token: access, Body: map[string]any{"input": map[string]any{}}})
	if r.Status < 500 {
		t.Fatalf("a run whose fee cannot be reserved answered %d: %s", r.Status, r.Body)
	}

	// Error bodies.
	internal := []string{s.IdentityAddr, s.WalletAddr, s.WorkflowAddr, strings.TrimPrefix(s.URL, "http://")}
	fiveXX := 0
	for _, e := range errorsSeen {
		body := string(e.Body)
		if e.Status >= 500 {
			fiveXX++
		}
		if ct := e.Header.Get("Content-Type"); ct != "application/problem+json" {
			t.Errorf("%d answered with Content-Type %q: %s", e.Status, ct, body)
		}
		for _, re := range leakPatterns {
			if re.MatchString(body) {
				t.Errorf("%d error body matches %s: %s", e.Status, re, body)
			}
		}
		for _, addr := range internal {
			if strings.Contains(body, addr) {
				t.Errorf("%d error body names internal address %s: %s", e.Status, addr, body)
			}
		}
		if found := secrets.find(body); len(found) > 0 {
			t.Errorf("%d error body holds %v: %s", e.Status, found, body)
		}
	}
	if fiveXX < 4 { // the failed run (502) and the three forced errors
		t.Errorf("only %d 5xx answers were checked", fiveXX)
	}

	// Log lines: give in-flight work (the failed webhook's log, async
	// settlement) a moment, then read everything.
	time.Sleep(200 * time.Millisecond)
	lines := sink.lines()
	if len(lines) < 20 {
		t.Fatalf("only %d log lines were captured", len(lines))
	}
	services := map[string]int{}
	for _, line := range lines {
		var rec struct {
			Service string `json:"service"`
		}
		if err := json.Unmarshal([]byte(line), &rec); err == nil {
			services[rec.Service]++
		}
		if found := secrets.find(line); len(found) > 0 {
			t.Errorf("log line holds %v: %s", found, line)
		}
	}
	for _, svc := range []string{"gateway", "identity", "wallet", "workflow"} {
		if services[svc] == 0 {
			t.Errorf("no log line of %s was captured (by service: %v)", svc, services)
		}
	}
	if testing.Verbose() {
		for _, l := range lines {
			t.Log(l)
		}
		for _, e := range errorsSeen {
			t.Logf("%d %s", e.Status, e.Body)
		}
	}
	t.Logf("checked %d log lines (%v) and %d error bodies against %d secrets", len(lines), services, len(errorsSeen), len(secrets))
}

// newTestServer starts a receiver for the test and returns its URL.
func newTestServer(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}
