package app_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/meterflow/meterflow/platform/apikey"
	"github.com/meterflow/meterflow/platform/callauth/authtest"
	"github.com/meterflow/meterflow/platform/grpcservice"
	"github.com/meterflow/meterflow/platform/rpcerr"
	identityv1 "github.com/meterflow/meterflow/proto/gen/meterflow/identity/v1"
	"github.com/meterflow/meterflow/services/identity/app"
)

// createKey makes a key for the user of token with scopes.
func (b *bundle) createKey(token, name string, scopes ...string) *identityv1.CreateAPIKeyResponse {
	b.t.Helper()
	resp, err := b.client.CreateAPIKey(as(token), &identityv1.CreateAPIKeyRequest{Name: name, Scopes: scopes})
	if err != nil {
		b.t.Fatalf("CreateAPIKey(%s): %v", name, err)
	}
	return resp
}

func (b *bundle) authenticate(secret string) (*identityv1.AuthenticateAPIKeyResponse, error) {
	sum := sha256.Sum256([]byte(secret))
	return b.client.AuthenticateAPIKey(context.Background(), &identityv1.AuthenticateAPIKeyRequest{KeyHash: sum[:]})
}

func TestCreateAPIKeyStoresOnlyTheHash(t *testing.T) {
	t.Parallel()
	b := setup(t)
	su := b.signUp("keys@example.com")
	limit := int64(500)
	exp := b.clock.Now().Add(48 * time.Hour).UTC().Truncate(time.Second)
	resp, err := b.client.CreateAPIKey(as(su.GetTokens().GetAccessToken()), &identityv1.CreateAPIKeyRequest{
		Name: "n8n production", Scopes: []string{apikey.ScopeRunsWrite, apikey.ScopeRunsRead},
		ExpiresAt: timestamppb.New(exp), MonthlySpendLimitCents: &limit,
	})
	if err != nil {
		t.Fatal(err)
	}
	secret, k := resp.GetSecret(), resp.GetKey()
	if err := apikey.Check(secret); err != nil {
		t.Fatalf("secret %q: %v", secret, err)
	}
	if k.GetPrefix() != secret[:12] || k.GetName() != "n8n production" || k.GetMonthlySpendLimitCents() != 500 ||
		!k.GetExpiresAt().AsTime().Equal(exp) || k.LastUsedAt != nil || k.RevokedAt != nil ||
		strings.Join(k.GetScopes(), ",") != "runs:write,runs:read" {
		t.Fatalf("key = %v", k)
	}
	// The database holds the SHA-256 and the prefix, never the secret.
	var hash []byte
	var row string
	if err := b.pool.QueryRow(context.Background(), `SELECT secret_hash, api_keys::text FROM api_keys WHERE id = $1`, k.GetId()).Scan(&hash, &row); err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256([]byte(secret)); !bytes.Equal(hash, sum[:]) || strings.Contains(row, secret[12:]) {
		t.Fatalf("stored row %s does not hold just the hash", row)
	}
}

func TestCreateAPIKeyValidation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := as(b.signUp("valid@example.com").GetTokens().GetAccessToken())
	past := timestamppb.New(b.clock.Now().Add(-time.Minute))
	neg := int64(-1)
	for _, tc := range []struct {
		name  string
		req   *identityv1.CreateAPIKeyRequest
		field string
	}{
		{"no name", &identityv1.CreateAPIKeyRequest{Scopes: []string{"runs:read"}}, "name"},
		{"blank name", &identityv1.CreateAPIKeyRequest{Name: "   ", Scopes: []string{"runs:read"}}, "name"},
		{"name of 101 characters", &identityv1.CreateAPIKeyRequest{Name: strings.Repeat("é", 101), Scopes: []string{"runs:read"}}, "name"},
		{"control character", &identityv1.CreateAPIKeyRequest{Name: "a\nb", Scopes: []string{"runs:read"}}, "name"},
		{"no scopes", &identityv1.CreateAPIKeyRequest{Name: "k"}, "scopes"},
		{"unknown scope", &identityv1.CreateAPIKeyRequest{Name: "k", Scopes: []string{"admin"}}, "scopes"},
		{"repeated scope", &identityv1.CreateAPIKeyRequest{Name: "k", Scopes: []string{"runs:read", "runs:read"}}, "scopes"},
		{"expiry in the past", &identityv1.CreateAPIKeyRequest{Name: "k", Scopes: []string{"runs:read"}, ExpiresAt: past}, "expires_at"},
		{"negative limit", &identityv1.CreateAPIKeyRequest{Name: "k", Scopes: []string{"runs:read"}, MonthlySpendLimitCents: &neg}, "monthly_spend_limit_cents"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := b.client.CreateAPIKey(ctx, tc.req)
			wantErr(t, err, codes.InvalidArgument, rpcerr.ValidationFailed)
			if f := rpcerr.Fields(err); len(f) != 1 || f[0].Field != tc.field {
				t.Fatalf("fields = %v, want %s", f, tc.field)
			}
		})
	}
	// The bounds themselves are fine: 100 characters, a limit of 0.
	zero := int64(0)
	if _, err := b.client.CreateAPIKey(ctx, &identityv1.CreateAPIKeyRequest{Name: strings.Repeat("é", 100), Scopes: apikey.Scopes(), MonthlySpendLimitCents: &zero}); err != nil {
		t.Fatal(err)
	}
}

// TestActiveAPIKeyLimit: 25 active keys, then limit_reached; revoked and
// expired keys do not count; concurrent creations never pass the limit.
func TestActiveAPIKeyLimit(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tok := b.signUp("many@example.com").GetTokens().GetAccessToken()
	expiring := timestamppb.New(b.clock.Now().Add(time.Hour))
	if _, err := b.client.CreateAPIKey(as(tok), &identityv1.CreateAPIKeyRequest{Name: "short-lived", Scopes: []string{"runs:read"}, ExpiresAt: expiring}); err != nil {
		t.Fatal(err)
	}
	var first *identityv1.CreateAPIKeyResponse
	for i := range 20 {
		r := b.createKey(tok, fmt.Sprint("k", i), "runs:read")
		if first == nil {
			first = r
		}
	}
	// 21 active; 8 creations at once may add only 4.
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			_, err := b.client.CreateAPIKey(as(tok), &identityv1.CreateAPIKeyRequest{Name: "racer", Scopes: []string{"runs:read"}})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	ok := 0
	for err := range errs {
		if err == nil {
			ok++
			continue
		}
		wantErr(t, err, codes.FailedPrecondition, rpcerr.LimitReached)
	}
	if ok != 4 {
		t.Fatalf("%d concurrent creations succeeded, want 4 (25 active)", ok)
	}
	_, err := b.client.CreateAPIKey(as(tok), &identityv1.CreateAPIKeyRequest{Name: "26th", Scopes: []string{"runs:read"}})
	wantErr(t, err, codes.FailedPrecondition, rpcerr.LimitReached)

	if _, err := b.client.RevokeAPIKey(as(tok), &identityv1.RevokeAPIKeyRequest{Id: first.GetKey().GetId()}); err != nil {
		t.Fatal(err)
	}
	b.createKey(tok, "after a revocation", "runs:read")
	_, err = b.client.CreateAPIKey(as(tok), &identityv1.CreateAPIKeyRequest{Name: "26th", Scopes: []string{"runs:read"}})
	wantErr(t, err, codes.FailedPrecondition, rpcerr.LimitReached)
	b.clock.Advance(time.Hour + time.Second)
	if _, err := b.client.CreateAPIKey(as(tok), &identityv1.CreateAPIKeyRequest{Name: "after an expiry", Scopes: []string{"runs:read"}}); err != nil {
		t.Fatalf("an expired key still counts: %v", err)
	}
}

func TestListAndRevokeAPIKeys(t *testing.T) {
	t.Parallel()
	b := setup(t)
	alice := b.signUp("alice@example.com")
	bob := b.signUp("bob@example.com")
	atok, btok := alice.GetTokens().GetAccessToken(), bob.GetTokens().GetAccessToken()
	k1 := b.createKey(atok, "one", "runs:read").GetKey()
	k2 := b.createKey(atok, "two", "wallet:read").GetKey()
	bk := b.createKey(btok, "bob's", "runs:read").GetKey()

	// Another user's key, an unknown id and a malformed one are all NotFound.
	for _, id := range []string{bk.GetId(), "0b8d6b9e-5f7e-4f43-9a43-6b4a1c0e4d11", "not-a-uuid"} {
		_, err := b.client.RevokeAPIKey(as(atok), &identityv1.RevokeAPIKeyRequest{Id: id})
		wantErr(t, err, codes.NotFound, rpcerr.NotFound)
	}
	r1, err := b.client.RevokeAPIKey(as(atok), &identityv1.RevokeAPIKeyRequest{Id: k1.GetId()})
	if err != nil || r1.GetKey().RevokedAt == nil {
		t.Fatalf("revoke: %v %v", r1, err)
	}
	b.clock.Advance(time.Second)
	r2, err := b.client.RevokeAPIKey(as(atok), &identityv1.RevokeAPIKeyRequest{Id: k1.GetId()})
	if err != nil || !r2.GetKey().GetRevokedAt().AsTime().Equal(r1.GetKey().GetRevokedAt().AsTime()) {
		t.Fatalf("second revoke: %v %v (want the first revocation's time)", r2, err)
	}

	page, err := b.client.ListAPIKeys(as(atok), &identityv1.ListAPIKeysRequest{Limit: 1})
	if err != nil || len(page.GetKeys()) != 1 || page.GetKeys()[0].GetId() != k2.GetId() || page.GetNextCursor() == "" {
		t.Fatalf("first page = %v %v", page, err)
	}
	page, err = b.client.ListAPIKeys(as(atok), &identityv1.ListAPIKeysRequest{Limit: 1, Cursor: page.GetNextCursor()})
	if err != nil || len(page.GetKeys()) != 1 || page.GetKeys()[0].GetId() != k1.GetId() || page.GetKeys()[0].RevokedAt == nil || page.GetNextCursor() != "" {
		t.Fatalf("second page = %v %v", page, err)
	}

	// The audit log: one creation each, one revocation despite two calls.
	_, adminTok := b.admin("root@example.com")
	events, err := b.client.AdminListAuditEvents(as(adminTok), &identityv1.AdminListAuditEventsRequest{TargetId: k1.GetId()})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range events.GetEvents() {
		actions = append(actions, e.GetAction())
		if e.GetActorId() != alice.GetUser().GetId() || e.GetTargetType() != "api_key" {
			t.Fatalf("event %v", e)
		}
		if bytes.Contains(e.GetAfterJson(), []byte("mfk_")) && !bytes.Contains(e.GetAfterJson(), []byte(k1.GetPrefix())) {
			t.Fatalf("event %s holds more than the prefix", e.GetAfterJson())
		}
	}
	if strings.Join(actions, ",") != "api_key.revoke,api_key.create" {
		t.Fatalf("actions = %v", actions)
	}
}

func TestAuthenticateAPIKey(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, adminTok := b.admin("root@example.com")
	su := b.signUp("user@example.com")
	tok := su.GetTokens().GetAccessToken()
	limit := int64(300)
	created, err := b.client.CreateAPIKey(as(tok), &identityv1.CreateAPIKeyRequest{
		Name: "script", Scopes: []string{apikey.ScopeRunsWrite}, MonthlySpendLimitCents: &limit,
		ExpiresAt: timestamppb.New(b.clock.Now().Add(10 * time.Minute)),
	})
	if err != nil {
		t.Fatal(err)
	}
	secret := created.GetSecret()

	a, err := b.authenticate(secret)
	if err != nil {
		t.Fatal(err)
	}
	if a.GetUserId() != su.GetUser().GetId() || a.GetKeyId() != created.GetKey().GetId() || strings.Join(a.GetScopes(), ",") != "runs:write" {
		t.Fatalf("access = %v", a)
	}
	p, err := b.verifier().Verify(context.Background(), a.GetAccessToken())
	if err != nil {
		t.Fatal(err)
	}
	if p.UserID != su.GetUser().GetId() || p.KeyID != created.GetKey().GetId() || p.Admin || *p.SpendLimitCents != 300 ||
		!p.HasScope(apikey.ScopeRunsWrite) || p.HasScope(apikey.ScopeRunsRead) || time.Until(p.ExpiresAt) > time.Minute+time.Second {
		t.Fatalf("principal = %+v", p)
	}
	// A key's token manages no keys and reads no account.
	_, err = b.client.ListAPIKeys(as(a.GetAccessToken()), &identityv1.ListAPIKeysRequest{})
	wantErr(t, err, codes.PermissionDenied, rpcerr.InsufficientScope)
	_, err = b.client.GetUser(as(a.GetAccessToken()), &identityv1.GetUserRequest{})
	wantErr(t, err, codes.PermissionDenied, rpcerr.InsufficientScope)

	// An admin's key carries no admin claim.
	ak := b.createKey(adminTok, "admin's script", apikey.Scopes()...)
	aa, err := b.authenticate(ak.GetSecret())
	if err != nil {
		t.Fatal(err)
	}
	if p, err := b.verifier().Verify(context.Background(), aa.GetAccessToken()); err != nil || p.Admin {
		t.Fatalf("admin's key principal = %+v %v", p, err)
	}
	_, err = b.client.AdminListUsers(as(aa.GetAccessToken()), &identityv1.AdminListUsersRequest{})
	wantErr(t, err, codes.PermissionDenied, rpcerr.Forbidden)

	// Unknown, malformed hashes and a key of another deployment.
	for _, s := range []string{apikey.New(), ""} {
		_, err := b.authenticate(s)
		wantErr(t, err, codes.Unauthenticated, rpcerr.InvalidAPIKey)
	}
	_, err = b.client.AuthenticateAPIKey(context.Background(), &identityv1.AuthenticateAPIKeyRequest{KeyHash: []byte("short")})
	wantErr(t, err, codes.Unauthenticated, rpcerr.InvalidAPIKey)

	// A disabled user's keys stop; enabled again, they work again.
	setActive := func(active bool) {
		if _, err := b.client.AdminUpdateUser(as(adminTok), &identityv1.AdminUpdateUserRequest{Id: su.GetUser().GetId(), IsActive: &active}); err != nil {
			t.Fatal(err)
		}
	}
	setActive(false)
	_, err = b.authenticate(secret)
	wantErr(t, err, codes.Unauthenticated, rpcerr.InvalidAPIKey)
	setActive(true)
	if _, err := b.authenticate(secret); err != nil {
		t.Fatal(err)
	}

	// Expired.
	b.clock.Advance(10*time.Minute + time.Second)
	_, err = b.authenticate(secret)
	wantErr(t, err, codes.Unauthenticated, rpcerr.InvalidAPIKey)

	// Revoked.
	other := b.createKey(tok, "other", apikey.ScopeRunsRead)
	if _, err := b.authenticate(other.GetSecret()); err != nil {
		t.Fatal(err)
	}
	if _, err := b.client.RevokeAPIKey(as(tok), &identityv1.RevokeAPIKeyRequest{Id: other.GetKey().GetId()}); err != nil {
		t.Fatal(err)
	}
	_, err = b.authenticate(other.GetSecret())
	wantErr(t, err, codes.Unauthenticated, rpcerr.InvalidAPIKey)
}

// TestAuthenticateIsForTheGatewayOnly: no other service, and no caller
// without the service secret, can turn a key hash into a token.
func TestAuthenticateIsForTheGatewayOnly(t *testing.T) {
	t.Parallel()
	b := setup(t)
	conn, err := grpcservice.Dial(b.addr, authtest.Minter(t, "wallet").Credentials(app.Service))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	_, err = identityv1.NewIdentityServiceClient(conn).AuthenticateAPIKey(context.Background(), &identityv1.AuthenticateAPIKeyRequest{KeyHash: make([]byte, 32)})
	wantErr(t, err, codes.PermissionDenied, rpcerr.Forbidden)
}

// TestAPIKeyLastUsedAtOncePerMinute: a key used many times in a minute
// writes its last use once; the next minute's use moves it.
func TestAPIKeyLastUsedAtOncePerMinute(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tok := b.signUp("busy@example.com").GetTokens().GetAccessToken()
	k := b.createKey(tok, "busy", apikey.ScopeRunsWrite)
	lastUsed := func() (time.Time, int64) {
		var at time.Time
		var xmin int64
		if err := b.pool.QueryRow(context.Background(), `SELECT last_used_at, xmin::text::bigint FROM api_keys WHERE id = $1`, k.GetKey().GetId()).Scan(&at, &xmin); err != nil {
			t.Fatal(err)
		}
		return at, xmin
	}
	if _, err := b.authenticate(k.GetSecret()); err != nil {
		t.Fatal(err)
	}
	first, version := lastUsed()
	for range 5 {
		b.clock.Advance(10 * time.Second)
		if _, err := b.authenticate(k.GetSecret()); err != nil {
			t.Fatal(err)
		}
	}
	if at, v := lastUsed(); !at.Equal(first) || v != version {
		t.Fatalf("last_used_at rewritten within the minute: %v (row version %d → %d)", at, version, v)
	}
	b.clock.Advance(11 * time.Second)
	if _, err := b.authenticate(k.GetSecret()); err != nil {
		t.Fatal(err)
	}
	if at, _ := lastUsed(); !at.After(first.Add(time.Minute - time.Second)) {
		t.Fatalf("last_used_at = %v, want a minute after %v", at, first)
	}
	list, err := b.client.ListAPIKeys(as(tok), &identityv1.ListAPIKeysRequest{})
	if err != nil || list.GetKeys()[0].LastUsedAt == nil {
		t.Fatalf("list = %v %v", list, err)
	}
	raw, _ := json.Marshal(list.GetKeys()[0].GetLastUsedAt().AsTime())
	t.Logf("last_used_at %s", raw)
}
