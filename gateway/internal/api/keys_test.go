package api

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/meterflow/meterflow/gateway/internal/apikeyauth"
	"github.com/meterflow/meterflow/platform/apikey"
	"github.com/meterflow/meterflow/platform/rpcerr"
	identityv1 "github.com/meterflow/meterflow/proto/gen/meterflow/identity/v1"
	walletv1 "github.com/meterflow/meterflow/proto/gen/meterflow/wallet/v1"
	workflowv1 "github.com/meterflow/meterflow/proto/gen/meterflow/workflow/v1"
)

// keyIdentity stands in for identity's key methods: it knows the keys it
// issued (by hash) and counts the lookups.
type keyIdentity struct {
	stubIdentity
	mu      sync.Mutex
	keys    map[string]*identityv1.AuthenticateAPIKeyResponse
	lookups atomic.Int64
	down    atomic.Bool
	created *identityv1.CreateAPIKeyRequest
}

func newKeyIdentity() *keyIdentity {
	return &keyIdentity{keys: map[string]*identityv1.AuthenticateAPIKeyResponse{}}
}

// issue registers a key of user with scopes (its token a stand-in).
func (k *keyIdentity) issue(user string, scopes ...string) (secret, keyID string) {
	secret, keyID = apikey.New(), uuid.NewString()
	k.mu.Lock()
	defer k.mu.Unlock()
	k.keys[hex.EncodeToString(apikey.Hash(secret))] = &identityv1.AuthenticateAPIKeyResponse{
		AccessToken: "key-token", ExpiresAt: timestamppb.New(time.Now().Add(time.Minute)),
		UserId: user, KeyId: keyID, Scopes: scopes,
	}
	return secret, keyID
}

func (k *keyIdentity) AuthenticateAPIKey(_ context.Context, in *identityv1.AuthenticateAPIKeyRequest, _ ...grpc.CallOption) (*identityv1.AuthenticateAPIKeyResponse, error) {
	k.lookups.Add(1)
	if k.down.Load() {
		return nil, rpcerr.New(codes.Unavailable, rpcerr.ServiceUnavailable, "identity is down")
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if r, ok := k.keys[hex.EncodeToString(in.GetKeyHash())]; ok {
		return r, nil
	}
	return nil, rpcerr.New(codes.Unauthenticated, rpcerr.InvalidAPIKey, "invalid")
}

func (k *keyIdentity) CreateAPIKey(_ context.Context, in *identityv1.CreateAPIKeyRequest, _ ...grpc.CallOption) (*identityv1.CreateAPIKeyResponse, error) {
	k.mu.Lock()
	k.created = in
	k.mu.Unlock()
	secret := apikey.New()
	return &identityv1.CreateAPIKeyResponse{Secret: secret, Key: &identityv1.APIKey{
		Id: uuid.NewString(), Name: in.GetName(), Prefix: secret[:12], Scopes: in.GetScopes(), ExpiresAt: in.GetExpiresAt(),
		MonthlySpendLimitCents: in.MonthlySpendLimitCents, CreatedAt: timestamppb.Now(),
	}}, nil
}

func (k *keyIdentity) ListAPIKeys(context.Context, *identityv1.ListAPIKeysRequest, ...grpc.CallOption) (*identityv1.ListAPIKeysResponse, error) {
	limit := int64(500)
	return &identityv1.ListAPIKeysResponse{Keys: []*identityv1.APIKey{
		{Id: "11111111-1111-4111-8111-111111111111", Name: "limited", Prefix: "mfk_aaaaaaaa", Scopes: []string{apikey.ScopeRunsWrite}, MonthlySpendLimitCents: &limit, CreatedAt: timestamppb.Now(), LastUsedAt: timestamppb.Now()},
		{Id: "22222222-2222-4222-8222-222222222222", Name: "revoked", Prefix: "mfk_bbbbbbbb", Scopes: []string{apikey.ScopeRunsRead}, CreatedAt: timestamppb.Now(), RevokedAt: timestamppb.Now()},
	}, NextCursor: "next"}, nil
}

func (k *keyIdentity) RevokeAPIKey(_ context.Context, in *identityv1.RevokeAPIKeyRequest, _ ...grpc.CallOption) (*identityv1.RevokeAPIKeyResponse, error) {
	if in.GetId() == "33333333-3333-4333-8333-333333333333" {
		return nil, rpcerr.New(codes.NotFound, rpcerr.NotFound, "API key not found")
	}
	return &identityv1.RevokeAPIKeyResponse{Key: &identityv1.APIKey{Id: in.GetId(), RevokedAt: timestamppb.Now()}}, nil
}

// keyServices answer the routes a key reaches with empty results.
type keyWallet struct{ walletv1.WalletServiceClient }

func (keyWallet) GetWallet(context.Context, *walletv1.GetWalletRequest, ...grpc.CallOption) (*walletv1.GetWalletResponse, error) {
	return &walletv1.GetWalletResponse{Wallet: &walletv1.Wallet{Currency: "usd"}}, nil
}

func (keyWallet) ListTransactions(context.Context, *walletv1.ListTransactionsRequest, ...grpc.CallOption) (*walletv1.ListTransactionsResponse, error) {
	return &walletv1.ListTransactionsResponse{}, nil
}

func (keyWallet) GetAPIKeySpend(_ context.Context, in *walletv1.GetAPIKeySpendRequest, _ ...grpc.CallOption) (*walletv1.GetAPIKeySpendResponse, error) {
	out := &walletv1.GetAPIKeySpendResponse{}
	for i, id := range in.GetApiKeyIds() {
		out.Spends = append(out.Spends, &walletv1.APIKeySpend{ApiKeyId: id, Month: "2026-12", SpentCents: int64(120 * (1 - i))})
	}
	return out, nil
}

type keyWorkflow struct{ stubWorkflow }

func (keyWorkflow) ListWorkflows(context.Context, *workflowv1.ListWorkflowsRequest, ...grpc.CallOption) (*workflowv1.ListWorkflowsResponse, error) {
	return &workflowv1.ListWorkflowsResponse{}, nil
}

func (keyWorkflow) ListRuns(context.Context, *workflowv1.ListRunsRequest, ...grpc.CallOption) (*workflowv1.ListRunsResponse, error) {
	return &workflowv1.ListRunsResponse{}, nil
}

func (keyWorkflow) GetRun(_ context.Context, in *workflowv1.GetRunRequest, _ ...grpc.CallOption) (*workflowv1.GetRunResponse, error) {
	return &workflowv1.GetRunResponse{Run: &workflowv1.Run{Id: in.GetId(), Status: "succeeded", ApiKeyId: "k", CreatedAt: timestamppb.Now()}}, nil
}

func setupKeys(t testing.TB, limits Limits) (bundle, *keyIdentity) {
	t.Helper()
	id := newKeyIdentity()
	keys, err := apikeyauth.New(id, apikeyauth.Options{})
	if err != nil {
		t.Fatal(err)
	}
	starts := &atomic.Int64{}
	b := setup(t, setupOpts{
		limits: limits, identityClient: id, apiKeys: keys, wallet: keyWallet{},
		workflowClient: keyWorkflow{stubWorkflow{starts: starts}},
	})
	b.starts = starts
	return b, id
}

// routeRequest is a request to route ("METHOD /path/{param}"), its
// parameters filled in.
func routeRequest(route string) *http.Request {
	method, path, _ := strings.Cut(route, " ")
	for _, p := range []string{"{id}", "{slug}", "{asset}"} {
		path = strings.ReplaceAll(path, p, map[string]string{"{id}": uuid.NewString(), "{slug}": "echo", "{asset}": "x.js"}[p])
	}
	body := ""
	if method == http.MethodPost || method == http.MethodPatch {
		body = `{}`
	}
	return newReq(method, path, body)
}

// TestKeyScopesOnEveryRoute: for every route of the server that needs a
// user, a key reaches it exactly when keyScopes gives the route one of
// its scopes; everywhere else it is 403 insufficient_scope, also for a key
// with every scope whose user is an admin. Routes without a user ignore
// the header.
func TestKeyScopesOnEveryRoute(t *testing.T) {
	t.Parallel()
	b, id := setupKeys(t, Limits{})
	keys := map[string]string{}
	for _, s := range apikey.Scopes() {
		keys[s], _ = id.issue("u1", s)
	}
	adminsKey, _ := id.issue("admin-1", apikey.Scopes()...)
	reached := map[string]bool{}
	for _, route := range b.srv.Routes() {
		resp, _ := b.do(t, routeRequest(route))
		if resp.StatusCode != http.StatusUnauthorized {
			continue // no user needed: healthz, docs, /v1/auth/*, the Stripe webhook
		}
		for scope, key := range keys {
			resp, body := b.do(t, withToken(routeRequest(route), key))
			if keyScopes[openAPIToFiber(route)] == scope {
				reached[route] = true
				if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
					t.Errorf("%s with a %s key: %d %s", route, scope, resp.StatusCode, body)
				}
				continue
			}
			if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), `"insufficient_scope"`) {
				t.Errorf("%s with a %s key: %d %s, want 403 insufficient_scope", route, scope, resp.StatusCode, body)
			}
		}
		resp, body := b.do(t, withToken(routeRequest(route), adminsKey))
		if keyScopes[openAPIToFiber(route)] == "" && (resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), `"insufficient_scope"`)) {
			t.Errorf("%s with an admin's key of every scope: %d %s, want 403 insufficient_scope", route, resp.StatusCode, body)
		}
	}
	if len(reached) != len(keyScopes) {
		t.Fatalf("routes reached by keys = %v, want the %d of keyScopes", reached, len(keyScopes))
	}
	for _, forbidden := range []string{"GET /v1/admin/users", "POST /v1/api-keys", "GET /v1/api-keys", "DELETE /v1/api-keys/{id}", "GET /v1/me", "POST /v1/wallet/topups", "GET /v1/wallet/topups/{id}"} {
		if reached[forbidden] {
			t.Errorf("a key reached %s", forbidden)
		}
	}
}

// openAPIToFiber turns "GET /v1/runs/{id}" into keyScopes' "GET /v1/runs/:id".
func openAPIToFiber(route string) string {
	route = strings.ReplaceAll(route, "{", ":")
	return strings.ReplaceAll(route, "}", "")
}

// TestInvalidKeys: malformed keys and wrong checksums are refused without
// a lookup; unknown, revoked and expired ones (identity's refusal) too, on
// every route, before any scope is considered.
func TestInvalidKeys(t *testing.T) {
	t.Parallel()
	b, id := setupKeys(t, Limits{})
	good, _ := id.issue("u1", apikey.ScopeWalletRead)
	typo := []byte(good)
	typo[30] ^= 1
	for _, tc := range []struct {
		name   string
		key    string
		lookup bool
	}{
		{"malformed: too short", "mfk_abc", false},
		{"malformed: not base62", good[:20] + "_" + good[21:], false},
		{"wrong checksum", string(typo), false},
		{"unknown, revoked or expired (identity refuses)", apikey.New(), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := id.lookups.Load()
			for _, path := range []string{"/v1/wallet", "/v1/admin/users", "/v1/api-keys"} {
				resp, body := b.do(t, withToken(newReq(http.MethodGet, path, ""), tc.key))
				wantProblem(t, resp, body, http.StatusUnauthorized, rpcerr.InvalidAPIKey)
				if resp.Header.Get("WWW-Authenticate") == "" {
					t.Fatal("401 without WWW-Authenticate")
				}
			}
			if looked := id.lookups.Load() > before; looked != tc.lookup {
				t.Fatalf("looked up: %v, want %v", looked, tc.lookup)
			}
		})
	}
	resp, body := b.do(t, withToken(newReq(http.MethodGet, "/v1/wallet", ""), good))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("the good key: %d %s", resp.StatusCode, body)
	}
	// Identity unreachable: 503, never a 401 the client would act on.
	id.down.Store(true)
	other, _ := id.issue("u2", apikey.ScopeWalletRead)
	resp, body = b.do(t, withToken(newReq(http.MethodGet, "/v1/wallet", ""), other))
	wantProblem(t, resp, body, http.StatusServiceUnavailable, rpcerr.ServiceUnavailable)
}

func TestAPIKeyRoutes(t *testing.T) {
	t.Parallel()
	b, id := setupKeys(t, Limits{})
	tok := b.keys.test.AccessToken(t, "u1", false)

	resp, body := b.do(t, withToken(newReq(http.MethodPost, "/v1/api-keys",
		`{"name":"n8n","scopes":["runs:write"],"expires_at":"2030-01-31T00:00:00Z","monthly_spend_limit_cents":500}`), tok))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	var created map[string]any
	if err := json.Unmarshal(body, &created); err != nil {
		t.Fatal(err)
	}
	key, _ := created["key"].(string)
	if apikey.Check(key) != nil || created["prefix"] != key[:12] || created["spent_this_month_cents"] != float64(0) ||
		created["monthly_spend_limit_cents"] != float64(500) || created["expires_at"] != "2030-01-31T00:00:00Z" ||
		created["last_used_at"] != nil || created["revoked_at"] != nil {
		t.Fatalf("created = %s", body)
	}
	if id.created.GetExpiresAt().AsTime() != time.Date(2030, 1, 31, 0, 0, 0, 0, time.UTC) {
		t.Fatalf("identity got %v", id.created)
	}

	for _, bad := range []struct{ body, field string }{
		{`{"name":"n","scopes":["runs:read"],"expires_at":"tomorrow"}`, "expires_at"},
		{`{"name":"n","scopes":["runs:read"],"monthly_spend_limit_cents":1.5}`, "monthly_spend_limit_cents"},
		{`{"name":"n","scopes":["runs:read"],"admin":true}`, "admin"},
	} {
		resp, body := b.do(t, withToken(newReq(http.MethodPost, "/v1/api-keys", bad.body), tok))
		p := wantProblem(t, resp, body, http.StatusBadRequest, rpcerr.ValidationFailed)
		if len(p.Errors) != 1 || p.Errors[0].Field != bad.field {
			t.Fatalf("%s: errors %v", bad.body, p.Errors)
		}
	}

	resp, body = b.do(t, withToken(newReq(http.MethodGet, "/v1/api-keys", ""), tok))
	var list struct {
		Items      []map[string]any `json:"items"`
		NextCursor *string          `json:"next_cursor"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &list) != nil || len(list.Items) != 2 || list.NextCursor == nil {
		t.Fatalf("list: %d %s", resp.StatusCode, body)
	}
	if list.Items[0]["spent_this_month_cents"] != float64(120) || list.Items[1]["spent_this_month_cents"] != float64(0) ||
		list.Items[1]["revoked_at"] == nil || list.Items[1]["monthly_spend_limit_cents"] != nil || list.Items[0]["key"] != nil {
		t.Fatalf("list items = %s", body)
	}

	resp, _ = b.do(t, withToken(newReq(http.MethodDelete, "/v1/api-keys/"+uuid.NewString(), ""), tok))
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	for _, path := range []string{"/v1/api-keys/not-a-uuid", "/v1/api-keys/33333333-3333-4333-8333-333333333333"} {
		resp, body := b.do(t, withToken(newReq(http.MethodDelete, path, ""), tok))
		wantProblem(t, resp, body, http.StatusNotFound, rpcerr.NotFound)
	}
}

// TestRunLimitCountsKeysAndTokensTogether: the per-user run budget is one
// budget, whether the runs come with the user's access token or any of
// their keys.
func TestRunLimitCountsKeysAndTokensTogether(t *testing.T) {
	t.Parallel()
	b, id := setupKeys(t, Limits{AuthPerMinute: 1000, RunsPerMinute: 3, APIPerMinute: 1000, TopUpsPerMinute: 1000})
	tok := b.keys.test.AccessToken(t, "u1", false)
	k1, _ := id.issue("u1", apikey.ScopeRunsWrite)
	k2, _ := id.issue("u1", apikey.ScopeRunsWrite)
	other, _ := id.issue("u2", apikey.ScopeRunsWrite)
	run := func(cred string) *http.Response {
		resp, _ := b.do(t, withToken(newReq(http.MethodPost, "/v1/workflows/echo/runs", `{"input":{}}`), cred))
		return resp
	}
	for i, cred := range []string{tok, k1, k2} {
		if resp := run(cred); resp.StatusCode != http.StatusOK {
			t.Fatalf("run %d: %d", i, resp.StatusCode)
		}
	}
	for _, cred := range []string{k1, tok, k2} {
		if resp := run(cred); resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("over the user's budget: %d", resp.StatusCode)
		}
	}
	if resp := run(other); resp.StatusCode != http.StatusOK {
		t.Fatalf("another user's key: %d", resp.StatusCode)
	}
	if n := b.starts.Load(); n != 4 {
		t.Fatalf("runs started = %d, want 4", n)
	}
}

// BenchmarkKeyAuthThroughFiber is the whole HTTP path of GET /v1/wallet
// (middleware, authentication, a rate-limit decision in Redis, a stubbed
// wallet, JSON) with an access token and with an API key whose lookup is
// cached, side by side: a key should cost about what a token does.
func BenchmarkKeyAuthThroughFiber(b *testing.B) {
	bd, id := setupKeys(b, Limits{AuthPerMinute: 1 << 30, RunsPerMinute: 1 << 30, APIPerMinute: 1 << 30})
	key, _ := id.issue("bench-user", apikey.ScopeWalletRead)
	for name, cred := range map[string]string{"jwt": bd.keys.test.AccessToken(b, "bench-user", false), "api-key": key} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				resp, err := bd.srv.App().Test(withToken(newReq(http.MethodGet, "/v1/wallet", ""), cred), -1)
				if err != nil || resp.StatusCode != http.StatusOK {
					b.Fatal(err, resp)
				}
				resp.Body.Close()
			}
		})
	}
}
