package api

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/meterflow/meterflow/platform/callauth"
	"github.com/meterflow/meterflow/platform/callauth/authtest"
	identityv1 "github.com/meterflow/meterflow/proto/gen/meterflow/identity/v1"
)

// sign makes an EdDSA token with our own trusted key ("ours") or any kid.
func sign(t testing.TB, priv ed25519.PrivateKey, kid string, mutate func(*callauth.AccessClaims)) string {
	t.Helper()
	now := time.Now()
	c := callauth.AccessClaims{RegisteredClaims: jwt.RegisteredClaims{
		Issuer: authtest.Issuer, Audience: jwt.ClaimStrings{authtest.Audience}, Subject: "user-1",
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(10 * time.Minute)),
	}}
	if mutate != nil {
		mutate(&c)
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c)
	tok.Header["kid"] = kid
	s, err := tok.SignedString(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func b64(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

func TestJWTMiddleware(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	valid := b.keys.test.AccessToken(t, "user-1", false)
	parts := strings.Split(valid, ".")

	// alg none: a valid payload with no signature.
	none := b64(map[string]string{"alg": "none", "typ": "JWT", "kid": "test-key"}) + "." + parts[1] + "."
	// HS256 keyed with the public key bytes: the classic algorithm confusion.
	pub, _ := b.keys.test.PublicKey(context.Background(), "test-key")
	hsTok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"iss": authtest.Issuer, "aud": authtest.Audience, "sub": "user-1",
		"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix(),
	})
	hsTok.Header["kid"] = "test-key"
	hs, err := hsTok.SignedString([]byte(pub))
	if err != nil {
		t.Fatal(err)
	}
	// One payload byte flipped, signature kept.
	payload := []byte(parts[1])
	if payload[5] == 'A' {
		payload[5] = 'B'
	} else {
		payload[5] = 'A'
	}
	flipped := parts[0] + "." + string(payload) + "." + parts[2]
	_, otherPriv, _ := ed25519.GenerateKey(nil)

	tests := []struct {
		name   string
		header string
		want   int
	}{
		{"valid authtest token", "Bearer " + valid, 200},
		{"valid token of our key", "Bearer " + sign(t, b.keys.priv, "ours", nil), 200},
		{"lower-case scheme", "bearer " + valid, 200},
		{"missing header", "", 401},
		{"not bearer", "Basic dXNlcjpwYXNz", 401},
		{"empty token", "Bearer ", 401},
		{"garbage", "Bearer not.a.jwt", 401},
		{"alg none", "Bearer " + none, 401},
		{"HS256 with the public key", "Bearer " + hs, 401},
		{"flipped payload byte", "Bearer " + flipped, 401},
		{"expired beyond leeway", "Bearer " + sign(t, b.keys.priv, "ours", func(c *callauth.AccessClaims) {
			c.ExpiresAt = jwt.NewNumericDate(time.Now().Add(-time.Minute))
			c.IssuedAt = jwt.NewNumericDate(time.Now().Add(-20 * time.Minute))
		}), 401},
		{"no exp", "Bearer " + sign(t, b.keys.priv, "ours", func(c *callauth.AccessClaims) { c.ExpiresAt = nil }), 401},
		{"wrong iss", "Bearer " + sign(t, b.keys.priv, "ours", func(c *callauth.AccessClaims) { c.Issuer = "evil" }), 401},
		{"wrong aud", "Bearer " + sign(t, b.keys.priv, "ours", func(c *callauth.AccessClaims) { c.Audience = jwt.ClaimStrings{"other-api"} }), 401},
		{"no sub", "Bearer " + sign(t, b.keys.priv, "ours", func(c *callauth.AccessClaims) { c.Subject = "" }), 401},
		{"unknown kid", "Bearer " + sign(t, otherPriv, "unknown", nil), 401},
		{"known kid, other key", "Bearer " + sign(t, otherPriv, "ours", nil), 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := newReq(http.MethodGet, "/v1/me", "")
			if tt.header != "" {
				req.Header.Set("Authorization", tt.header)
			}
			resp, body := b.do(t, req)
			if tt.want == 200 {
				if resp.StatusCode != 200 {
					t.Fatalf("status %d: %s", resp.StatusCode, body)
				}
				return
			}
			wantProblem(t, resp, body, http.StatusUnauthorized, "unauthorized")
			if resp.Header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}
}

// TestAdminRoutesNeedAdminClaim covers every /v1/admin route the router
// serves, so a new one cannot be left open.
func TestAdminRoutesNeedAdminClaim(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	user := b.keys.test.AccessToken(t, "user-1", false)
	var admin []string
	for _, r := range b.srv.Routes() {
		if strings.Contains(r, " /v1/admin/") {
			admin = append(admin, r)
		}
	}
	if len(admin) < 10 || !slices.Contains(admin, "GET /v1/admin/audit") {
		t.Fatalf("admin routes %v", admin)
	}
	for _, r := range admin {
		method, path, _ := strings.Cut(r, " ")
		path = strings.NewReplacer("{id}", "8a0c5c43-1f6b-4a43-9c39-0f8d5d6a9f11", "{slug}", "x").Replace(path)
		t.Run(r, func(t *testing.T) {
			t.Parallel()
			resp, body := b.do(t, withToken(newReq(method, path, `{}`), user))
			wantProblem(t, resp, body, http.StatusForbidden, "forbidden")
			resp, body = b.do(t, withToken(newReq(method, path+"?format=csv", `{}`), user))
			wantProblem(t, resp, body, http.StatusForbidden, "forbidden")
			resp, body = b.do(t, newReq(method, path, `{}`))
			wantProblem(t, resp, body, http.StatusUnauthorized, "unauthorized")
		})
	}
}

func TestPanicIsA500Problem(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{identity: &stubIdentity{getUser: func(context.Context) (*identityv1.GetUserResponse, error) {
		panic("boom")
	}}})
	resp, body := b.do(t, withToken(newReq(http.MethodGet, "/v1/me", ""), b.keys.test.AccessToken(t, "u", false)))
	p := wantProblem(t, resp, body, http.StatusInternalServerError, "internal")
	if strings.Contains(p.Detail, "boom") {
		t.Error("panic value leaked")
	}
}

func TestUserTokenForwarded(t *testing.T) {
	t.Parallel()
	var seen string
	b := setup(t, setupOpts{identity: &stubIdentity{getUser: func(ctx context.Context) (*identityv1.GetUserResponse, error) {
		// The token travels in the context; the per-RPC credentials of the
		// real connection put it on the wire.
		if _, ok := ctx.Deadline(); !ok {
			t.Error("service call without a deadline")
		}
		seen = "called"
		return &identityv1.GetUserResponse{User: &identityv1.User{Id: "u"}}, nil
	}}})
	resp, body := b.do(t, withToken(newReq(http.MethodGet, "/v1/me", ""), b.keys.test.AccessToken(t, "u", false)))
	if resp.StatusCode != 200 || seen == "" {
		t.Fatalf("status %d %s", resp.StatusCode, body)
	}
	var u map[string]any
	_ = json.Unmarshal(body, &u)
	if _, ok := u["created_at"]; !ok || u["created_at"] != nil {
		t.Errorf("absent created_at must be null: %s", body)
	}
}

func TestTokenCache(t *testing.T) {
	t.Parallel()
	k := authtest.NewKeys(t)
	tv, err := callauth.NewCachingVerifier(k.Verifier(), 2)
	if err != nil {
		t.Fatal(err)
	}
	tok := k.AccessToken(t, "u1", true)
	for range 3 {
		p, err := tv.Verify(context.Background(), tok)
		if err != nil || p.UserID != "u1" || !p.Admin || p.Token != tok {
			t.Fatalf("Verify = %+v, %v", p, err)
		}
	}
	if _, err := tv.Verify(context.Background(), tok+"x"); err == nil {
		t.Fatal("a tampered token verified")
	}
}

// TestLoginSendsClientAddress: identity throttles guesses per account and
// client address, so the gateway passes the address it resolved (through
// trusted proxies only) with the credentials; the user carries
// email_verified.
func TestLoginSendsClientAddress(t *testing.T) {
	t.Parallel()
	var got []string
	b := setup(t, setupOpts{proxies: "0.0.0.0/32", identity: &stubIdentity{login: func(req *identityv1.LoginRequest) (*identityv1.LoginResponse, error) {
		got = append(got, req.GetClientIp())
		return &identityv1.LoginResponse{
			User:   &identityv1.User{Id: "u1", Email: req.GetEmail(), IsActive: true, EmailVerified: true},
			Tokens: &identityv1.TokenPair{AccessToken: "a", RefreshToken: "r", ExpiresIn: 900},
		}, nil
	}}})
	for _, xff := range []string{"198.51.100.1", "2001:db8::7", ""} {
		req := newReq(http.MethodPost, "/v1/auth/login", `{"email":"a@example.com","password":"password1"}`)
		if xff != "" {
			req.Header.Set("X-Forwarded-For", xff)
		}
		resp, body := b.do(t, req)
		var out struct {
			User map[string]any `json:"user"`
		}
		if err := json.Unmarshal(body, &out); err != nil || resp.StatusCode != http.StatusOK || out.User["email_verified"] != true {
			t.Fatalf("login: %d %s", resp.StatusCode, body)
		}
	}
	if want := []string{"198.51.100.1", "2001:db8::7", "0.0.0.0"}; !slices.Equal(got, want) {
		t.Fatalf("client_ip sent to identity = %q, want %q", got, want)
	}
}
