package stack

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/meterflow/meterflow/platform/apikey"
	"github.com/meterflow/meterflow/platform/callauth"
	"github.com/meterflow/meterflow/platform/grpcservice"
	identityv1 "github.com/meterflow/meterflow/proto/gen/meterflow/identity/v1"
	wallet "github.com/meterflow/meterflow/services/wallet/app"
)

// createKey makes an API key with the user's access token and returns the
// answer (the secret in "key").
func createKey(t *testing.T, s *Stack, token string, body map[string]any) map[string]any {
	t.Helper()
	r := s.Do(t, Request{Method: "POST", Path: "/v1/api-keys", Token: token, Body: body})
	if r.Status != http.StatusCreated {
		t.Fatalf("create key: %d %s", r.Status, r.Body)
	}
	return r.JSON(t)
}

// paidWorkflow creates the workflow slug (fee cents) on rc and credits
// user with credit cents.
func paidWorkflow(t *testing.T, s *Stack, admin, slug, url string, fee int64, user string, credit int64) {
	t.Helper()
	r := s.Do(t, Request{Method: "POST", Path: "/v1/admin/workflows", Token: admin, Body: map[string]any{
		"slug": slug, "name": slug, "description": "", "webhook_url": url, "fee_cents": fee, "timeout_ms": 5000,
	}})
	if r.Status != http.StatusCreated {
		t.Fatalf("create workflow: %d %s", r.Status, r.Body)
	}
	if r := adjust(t, s, admin, user, credit, "credit", ""); r.Status != http.StatusCreated {
		t.Fatalf("credit: %d %s", r.Status, r.Body)
	}
}

func verifyWallet(t *testing.T, s *Stack) {
	t.Helper()
	bad, err := wallet.Verify(context.Background(), s.WalletDatabaseURL)
	if err != nil || len(bad) > 0 {
		t.Fatalf("wallet verify: %+v, %v", bad, err)
	}
}

// TestAPIKeysEndToEnd is the README's walkthrough and the contract around
// it: a key created with a login runs a paid workflow within its scopes
// and its monthly limit, shows in runs and in admin views, and stops at
// once when revoked.
func TestAPIKeysEndToEnd(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{RunsPerMinute: 100})
	rc := newReceiver(t)
	admin := s.Admin(t)
	tok, _, user := s.Signup(t, "machine@example.com", "password-1")
	paidWorkflow(t, s, admin, "echo", rc.URL, 10, user, 100)

	created := createKey(t, s, tok, map[string]any{
		"name": "n8n production", "scopes": []string{"runs:write", "runs:read", "workflows:read"}, "monthly_spend_limit_cents": 25,
	})
	key, keyID := created["key"].(string), created["id"].(string)
	if apikey.Check(key) != nil || created["prefix"] != key[:12] || created["spent_this_month_cents"].(float64) != 0 {
		t.Fatalf("created %v", created)
	}

	if r := s.Do(t, Request{Method: "GET", Path: "/v1/workflows", Token: key}); r.Status != http.StatusOK || !strings.Contains(string(r.Body), `"slug":"echo"`) {
		t.Fatalf("workflows with the key: %d %s", r.Status, r.Body)
	}
	var runID string
	for i := range 2 {
		r := s.Do(t, Request{Method: "POST", Path: "/v1/workflows/echo/runs", Token: key, Body: map[string]any{"input": map[string]any{"i": i}}})
		if r.Status != http.StatusOK || r.JSON(t)["api_key_id"] != keyID || r.JSON(t)["charged_cents"].(float64) != 10 {
			t.Fatalf("run %d with the key: %d %s", i, r.Status, r.Body)
		}
		runID = r.JSON(t)["id"].(string)
	}
	// 20 of 25 spent: a third fee of 10 would exceed the limit.
	wantProblem(t, s.Do(t, Request{Method: "POST", Path: "/v1/workflows/echo/runs", Token: key, Body: map[string]any{"input": map[string]any{}}}), 402, "spend_limit_exceeded")
	if rc.calls.Load() != 2 {
		t.Fatalf("n8n calls = %d, want 2", rc.calls.Load())
	}
	// The login is not limited by the key, and its runs carry no key.
	if r := s.Do(t, Request{Method: "POST", Path: "/v1/workflows/echo/runs", Token: tok, Body: map[string]any{"input": map[string]any{}}}); r.Status != http.StatusOK || r.JSON(t)["api_key_id"] != nil {
		t.Fatalf("run with the login: %d %s", r.Status, r.Body)
	}
	if r := s.Do(t, Request{Method: "GET", Path: "/v1/runs/" + runID, Token: key}); r.Status != http.StatusOK || r.JSON(t)["api_key_id"] != keyID {
		t.Fatalf("run with the key: %d %s", r.Status, r.Body)
	}
	// Outside its scopes, and on routes no key reaches.
	wantProblem(t, s.Do(t, Request{Method: "GET", Path: "/v1/wallet", Token: key}), 403, "insufficient_scope")
	wantProblem(t, s.Do(t, Request{Method: "GET", Path: "/v1/api-keys", Token: key}), 403, "insufficient_scope")
	wantProblem(t, s.Do(t, Request{Method: "GET", Path: "/v1/me", Token: key}), 403, "insufficient_scope")
	wantProblem(t, s.Do(t, Request{Method: "POST", Path: "/v1/wallet/topups", Token: key, Body: map[string]any{"amount_cents": 1000}}), 403, "insufficient_scope")

	r := s.Do(t, Request{Method: "GET", Path: "/v1/api-keys", Token: tok})
	items := r.JSON(t)["items"].([]any)
	k := items[0].(map[string]any)
	if r.Status != http.StatusOK || len(items) != 1 || k["spent_this_month_cents"].(float64) != 20 || k["last_used_at"] == nil || k["key"] != nil ||
		k["monthly_spend_limit_cents"].(float64) != 25 || strings.Contains(string(r.Body), key) {
		t.Fatalf("keys: %d %s", r.Status, r.Body)
	}

	// Admin views show the key on runs; the audit log has its creation.
	r = s.Do(t, Request{Method: "GET", Path: "/v1/admin/runs?user_id=" + user, Token: admin})
	if r.Status != http.StatusOK || strings.Count(string(r.Body), `"api_key_id":"`+keyID+`"`) != 3 || strings.Count(string(r.Body), `"api_key_id":null`) != 1 {
		t.Fatalf("admin runs: %d %s", r.Status, r.Body)
	}
	r = s.Do(t, Request{Method: "GET", Path: "/v1/admin/users/" + user, Token: admin})
	if r.Status != http.StatusOK || !strings.Contains(string(r.Body), `"api_key_id":"`+keyID+`"`) {
		t.Fatalf("admin user: %d %s", r.Status, r.Body)
	}
	if r := s.Do(t, Request{Method: "GET", Path: "/v1/admin/audit?target_id=" + keyID, Token: admin}); !strings.Contains(string(r.Body), `"api_key.create"`) {
		t.Fatalf("audit: %s", r.Body)
	}

	// Another user can neither revoke the key nor read its runs.
	other, _, _ := s.Signup(t, "other@example.com", "password-1")
	wantProblem(t, s.Do(t, Request{Method: "DELETE", Path: "/v1/api-keys/" + keyID, Token: other}), 404, "not_found")
	wantProblem(t, s.Do(t, Request{Method: "GET", Path: "/v1/runs/" + runID, Token: other}), 404, "not_found")
	otherKey := createKey(t, s, other, map[string]any{"name": "other", "scopes": []string{"runs:read"}})["key"].(string)
	wantProblem(t, s.Do(t, Request{Method: "GET", Path: "/v1/runs/" + runID, Token: otherKey}), 404, "not_found")

	// Malformed, mistyped, unknown: 401 invalid_api_key.
	typo := []byte(key)
	typo[25] ^= 1
	for _, bad := range []string{"mfk_nope", string(typo), apikey.New()} {
		wantProblem(t, s.Do(t, Request{Method: "GET", Path: "/v1/workflows", Token: bad}), 401, "invalid_api_key")
	}

	// Revoked: at once on this gateway, and idempotent.
	for range 2 {
		if r := s.Do(t, Request{Method: "DELETE", Path: "/v1/api-keys/" + keyID, Token: tok}); r.Status != http.StatusNoContent {
			t.Fatalf("revoke: %d %s", r.Status, r.Body)
		}
	}
	wantProblem(t, s.Do(t, Request{Method: "GET", Path: "/v1/workflows", Token: key}), 401, "invalid_api_key")
	if r := s.Do(t, Request{Method: "GET", Path: "/v1/admin/audit?target_id=" + keyID, Token: admin}); strings.Count(string(r.Body), `"api_key.revoke"`) != 1 {
		t.Fatalf("audit after two revocations: %s", r.Body)
	}
	verifyWallet(t, s)
}

// waitRefused polls the gateway at base with key until it answers 401
// invalid_api_key, and returns how long that took; it fails beyond 5 s,
// the contract's bound.
func waitRefused(t *testing.T, s *Stack, base, key string) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		r := s.DoAt(t, base, Request{Method: "GET", Path: "/v1/wallet", Token: key})
		if r.Status == http.StatusUnauthorized {
			return time.Since(start)
		}
		if r.Status != http.StatusOK {
			t.Fatalf("unexpected answer %d %s", r.Status, r.Body)
		}
		if time.Since(start) > 5*time.Second {
			t.Fatalf("the key still works on the other gateway after %v", time.Since(start))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRevocationReachesEveryGateway: two gateway replicas have a key in
// their caches; a revocation through one, and an admin disabling the
// user through one, stop the key on the other within the bound (at once,
// through the Redis channel; the 3 s cache is the fallback).
func TestRevocationReachesEveryGateway(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{})
	second := s.AddGateway(t, "")
	admin := s.Admin(t)
	tok, _, user := s.Signup(t, "replicas@example.com", "password-1")

	created := createKey(t, s, tok, map[string]any{"name": "k", "scopes": []string{"wallet:read"}})
	key := created["key"].(string)
	for _, base := range []string{s.URL, second} {
		if r := s.DoAt(t, base, Request{Method: "GET", Path: "/v1/wallet", Token: key}); r.Status != http.StatusOK {
			t.Fatalf("%s: %d %s", base, r.Status, r.Body)
		}
	}
	if r := s.Do(t, Request{Method: "DELETE", Path: "/v1/api-keys/" + created["id"].(string), Token: tok}); r.Status != http.StatusNoContent {
		t.Fatalf("revoke: %d", r.Status)
	}
	t.Logf("revocation effective on the second gateway after %v", waitRefused(t, s, second, key))

	other := createKey(t, s, tok, map[string]any{"name": "k2", "scopes": []string{"wallet:read"}})["key"].(string)
	for _, base := range []string{s.URL, second} {
		if r := s.DoAt(t, base, Request{Method: "GET", Path: "/v1/wallet", Token: other}); r.Status != http.StatusOK {
			t.Fatalf("%s: %d %s", base, r.Status, r.Body)
		}
	}
	if r := s.Do(t, Request{Method: "PATCH", Path: "/v1/admin/users/" + user, Token: admin, Body: map[string]any{"is_active": false}}); r.Status != http.StatusOK {
		t.Fatalf("disable: %d %s", r.Status, r.Body)
	}
	t.Logf("deactivation effective on the second gateway after %v", waitRefused(t, s, second, other))
	t.Logf("and on the first after %v", waitRefused(t, s, s.URL, other))
}

// TestKeySpendLimitUnderConcurrency: N runs at once through two gateways,
// each in front of its own workflow replica, against a key limited to k
// fees: exactly k succeed, the rest are 402 spend_limit_exceeded without
// a call, and the wallet is charged exactly k fees.
func TestKeySpendLimitUnderConcurrency(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{RunsPerMinute: 1000})
	second := s.AddGateway(t, s.AddWorkflowReplica(t))
	rc := newReceiver(t)
	admin := s.Admin(t)
	tok, _, user := s.Signup(t, "concurrent@example.com", "password-1")
	const fee, k, n = 5, 4, 24
	paidWorkflow(t, s, admin, "metered", rc.URL, fee, user, 1000)
	created := createKey(t, s, tok, map[string]any{"name": "k", "scopes": []string{"runs:write"}, "monthly_spend_limit_cents": k * fee})
	key := created["key"].(string)

	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[string]int{}
	for i := range n {
		base := s.URL
		if i%2 == 1 {
			base = second
		}
		wg.Go(func() {
			r := s.DoAt(t, base, Request{Method: "POST", Path: "/v1/workflows/metered/runs", Token: key, Body: map[string]any{"input": map[string]any{"i": i}}})
			code := fmt.Sprint(r.Status)
			if r.Status != http.StatusOK {
				code += " " + fmt.Sprint(r.JSON(t)["code"])
			}
			mu.Lock()
			statuses[code]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if statuses["200"] != k || statuses["402 spend_limit_exceeded"] != n-k || len(statuses) != 2 {
		t.Fatalf("answers = %v, want %d × 200 and %d × 402 spend_limit_exceeded", statuses, k, n-k)
	}
	if rc.calls.Load() != k {
		t.Fatalf("n8n calls = %d, want %d", rc.calls.Load(), k)
	}
	if w := balance(t, s, tok); w["balance_cents"].(float64) != 1000-k*fee || w["held_cents"].(float64) != 0 {
		t.Fatalf("wallet %v, want %d charged", w, k*fee)
	}
	r := s.Do(t, Request{Method: "GET", Path: "/v1/wallet/transactions?kind=fee", Token: tok})
	if got := len(r.JSON(t)["items"].([]any)); got != k {
		t.Fatalf("fee rows = %d, want %d", got, k)
	}
	r = s.Do(t, Request{Method: "GET", Path: "/v1/api-keys", Token: tok})
	if spent := r.JSON(t)["items"].([]any)[0].(map[string]any)["spent_this_month_cents"]; spent != float64(k*fee) {
		t.Fatalf("spent_this_month_cents = %v, want %d", spent, k*fee)
	}
	verifyWallet(t, s)
}

// TestRunLimitCountsKeysAndTokensTogether: the per-user run limit is one
// budget for the user's login and all their keys.
func TestRunLimitCountsKeysAndTokensTogether(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{RunsPerMinute: 3})
	rc := newReceiver(t)
	admin := s.Admin(t)
	tok, _, user := s.Signup(t, "limited@example.com", "password-1")
	paidWorkflow(t, s, admin, "echo", rc.URL, 1, user, 100)
	k1 := createKey(t, s, tok, map[string]any{"name": "a", "scopes": []string{"runs:write"}})["key"].(string)
	k2 := createKey(t, s, tok, map[string]any{"name": "b", "scopes": []string{"runs:write"}})["key"].(string)
	run := func(cred string) Response {
		return s.Do(t, Request{Method: "POST", Path: "/v1/workflows/echo/runs", Token: cred, Body: map[string]any{"input": map[string]any{}}})
	}
	for _, cred := range []string{k1, tok, k2} {
		if r := run(cred); r.Status != http.StatusOK {
			t.Fatalf("run: %d %s", r.Status, r.Body)
		}
	}
	for _, cred := range []string{tok, k1, k2} {
		wantProblem(t, run(cred), 429, "rate_limited")
	}
}

// BenchmarkAPIKeyLookup is the uncached end-to-end cost of a key: the
// gateway's checks (platform/apikey's checksum and hash, as apikeyauth
// does before its cache) and identity's AuthenticateAPIKey over gRPC (the
// lookup by hash in Postgres and the token's signature); the cached cost
// is the gateway's apikeyauth BenchmarkAuthenticate/cached.
func BenchmarkAPIKeyLookup(b *testing.B) {
	s := Start(b, Options{})
	tok, _, _ := s.Signup(b, "bench@example.com", "password-1")
	r := s.Do(b, Request{Method: "POST", Path: "/v1/api-keys", Token: tok, Body: map[string]any{"name": "bench", "scopes": []string{"runs:write"}}})
	key := r.JSON(b)["key"].(string)
	minter, err := callauth.NewMinter("gateway", []byte(Secret))
	if err != nil {
		b.Fatal(err)
	}
	conn, err := grpcservice.Dial(s.IdentityAddr, minter.Credentials("identity"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = conn.Close() })
	identity := identityv1.NewIdentityServiceClient(conn)
	ctx := context.Background()
	for b.Loop() {
		if err := apikey.Check(key); err != nil {
			b.Fatal(err)
		}
		res, err := identity.AuthenticateAPIKey(ctx, &identityv1.AuthenticateAPIKeyRequest{KeyHash: apikey.Hash(key)})
		if err != nil || res.GetUserId() == uuid.Nil.String() {
			b.Fatal(err)
		}
	}
}
