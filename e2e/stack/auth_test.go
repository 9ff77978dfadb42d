package stack

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/meterflow/meterflow/platform/callauth"
	"github.com/meterflow/meterflow/platform/grpcservice"
	identityv1 "github.com/meterflow/meterflow/proto/gen/meterflow/identity/v1"
)

func wantProblem(t *testing.T, r Response, status int, code string) map[string]any {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d: %s", r.Status, status, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q: %s", ct, r.Body)
	}
	m := r.JSON(t)
	if m["code"] != code || m["type"] != "https://meterflow.dev/problems/"+code {
		t.Fatalf("problem %s, want code %s", r.Body, code)
	}
	return m
}

func creds(email, password string) map[string]string {
	return map[string]string{"email": email, "password": password}
}

// TestAuthFlow walks every Auth row of the contract through the real stack.
func TestAuthFlow(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{})

	// Sign-up: 201, TokenPair + user, email stored as given (trimmed).
	r := s.Do(t, Request{Method: "POST", Path: "/v1/auth/signup", Body: creds("  Alice@Example.com ", "password-1")})
	if r.Status != http.StatusCreated {
		t.Fatalf("signup: %d %s", r.Status, r.Body)
	}
	pair := r.JSON(t)
	if pair["token_type"] != "Bearer" || pair["expires_in"].(float64) <= 0 || pair["access_token"] == "" || pair["refresh_token"] == "" {
		t.Fatalf("token pair %s", r.Body)
	}
	user := pair["user"].(map[string]any)
	if user["email"] != "Alice@Example.com" || user["is_admin"] != false || user["is_active"] != true || user["email_verified"] != false {
		t.Fatalf("user %v", user)
	}
	if _, err := time.Parse(time.RFC3339, user["created_at"].(string)); err != nil || !strings.HasSuffix(user["created_at"].(string), "Z") {
		t.Fatalf("created_at %v is not RFC 3339 UTC", user["created_at"])
	}

	// Email taken in another letter case.
	wantProblem(t, s.Do(t, Request{Method: "POST", Path: "/v1/auth/signup", Body: creds("alice@EXAMPLE.com", "password-2")}), 409, "email_taken")

	// Login, /v1/me.
	r = s.Do(t, Request{Method: "POST", Path: "/v1/auth/login", Body: creds("alice@example.com", "password-1")})
	if r.Status != 200 {
		t.Fatalf("login: %d %s", r.Status, r.Body)
	}
	login := r.JSON(t)
	if login["user"].(map[string]any)["id"] != user["id"] || login["token_type"] != "Bearer" {
		t.Fatalf("login %s", r.Body)
	}
	r = s.Do(t, Request{Method: "GET", Path: "/v1/me", Token: login["access_token"].(string)})
	if r.Status != 200 || r.JSON(t)["id"] != user["id"] {
		t.Fatalf("/v1/me: %d %s", r.Status, r.Body)
	}
	if r.Header.Get("RateLimit-Limit") == "" || r.Header.Get("X-Request-ID") == "" {
		t.Fatalf("headers %v", r.Header)
	}
	wantProblem(t, s.Do(t, Request{Method: "GET", Path: "/v1/me"}), 401, "unauthorized")
	// An admin made with create-admin is verified (the operator vouches for the address).
	if me := s.Do(t, Request{Method: "GET", Path: "/v1/me", Token: s.Admin(t)}).JSON(t); me["email_verified"] != true || me["is_admin"] != true {
		t.Fatalf("/v1/me of a create-admin admin: %v", me)
	}
	// A well-formed token from a key identity never published (unknown kid),
	// and a real token with its payload altered: both refused.
	_, forgedKey, _ := ed25519.GenerateKey(nil)
	forged := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{
		"iss": "meterflow-identity", "aud": "meterflow-api", "sub": user["id"], "adm": true,
		"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix(),
	})
	forged.Header["kid"] = "forged-kid"
	forgedTok, err := forged.SignedString(forgedKey)
	if err != nil {
		t.Fatal(err)
	}
	wantProblem(t, s.Do(t, Request{Method: "GET", Path: "/v1/admin/users", Token: forgedTok}), 401, "unauthorized")
	parts := strings.Split(login["access_token"].(string), ".")
	claims, _ := base64.RawURLEncoding.DecodeString(parts[1])
	altered := base64.RawURLEncoding.EncodeToString(bytes.Replace(claims, []byte(`"adm":false`), []byte(`"adm":true `), 1))
	wantProblem(t, s.Do(t, Request{Method: "GET", Path: "/v1/admin/users", Token: parts[0] + "." + altered + "." + parts[2]}), 401, "unauthorized")

	// Refresh rotates: the new pair works, the old refresh token does not.
	rt1 := login["refresh_token"].(string)
	r = s.Do(t, Request{Method: "POST", Path: "/v1/auth/refresh", Body: map[string]string{"refresh_token": rt1}})
	if r.Status != 200 {
		t.Fatalf("refresh: %d %s", r.Status, r.Body)
	}
	p2 := r.JSON(t)
	rt2 := p2["refresh_token"].(string)
	if rt2 == rt1 || p2["token_type"] != "Bearer" {
		t.Fatalf("refresh %s", r.Body)
	}
	if r := s.Do(t, Request{Method: "GET", Path: "/v1/me", Token: p2["access_token"].(string)}); r.Status != 200 {
		t.Fatalf("/v1/me with refreshed token: %d", r.Status)
	}
	// Reuse of the rotated token: 401, and the newest token of the login is revoked too.
	wantProblem(t, s.Do(t, Request{Method: "POST", Path: "/v1/auth/refresh", Body: map[string]string{"refresh_token": rt1}}), 401, "invalid_token")
	wantProblem(t, s.Do(t, Request{Method: "POST", Path: "/v1/auth/refresh", Body: map[string]string{"refresh_token": rt2}}), 401, "invalid_token")

	// Logout: 204, idempotent; the logged-out refresh token stops working.
	rt := pair["refresh_token"].(string)
	for range 2 {
		if r := s.Do(t, Request{Method: "POST", Path: "/v1/auth/logout", Body: map[string]string{"refresh_token": rt}}); r.Status != 204 || len(r.Body) != 0 {
			t.Fatalf("logout: %d %s", r.Status, r.Body)
		}
	}
	wantProblem(t, s.Do(t, Request{Method: "POST", Path: "/v1/auth/refresh", Body: map[string]string{"refresh_token": rt}}), 401, "invalid_token")
	if r := s.Do(t, Request{Method: "POST", Path: "/v1/auth/logout", Body: map[string]string{"refresh_token": "never-issued"}}); r.Status != 204 {
		t.Fatalf("logout of an unknown token: %d %s", r.Status, r.Body)
	}
}

func TestSignupValidation(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{})
	tests := []struct {
		name, email, password, field string
	}{
		{"bad email", "not-an-email", "password-1", "email"},
		{"7-char password", "bob@example.com", "1234567", "password"},
		{"129-char password", "bob@example.com", strings.Repeat("p", 129), "password"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := wantProblem(t, s.Do(t, Request{Method: "POST", Path: "/v1/auth/signup", Body: creds(tt.email, tt.password)}), 400, "validation_failed")
			errs, _ := m["errors"].([]any)
			found := false
			for _, e := range errs {
				found = found || e.(map[string]any)["field"] == tt.field
			}
			if !found {
				t.Fatalf("errors[] does not name %s: %v", tt.field, m)
			}
		})
	}
	// 8 and 128 characters are accepted.
	s.Signup(t, "eight@example.com", "12345678")
	s.Signup(t, "long@example.com", strings.Repeat("p", 128))
	// Unknown field.
	m := wantProblem(t, s.Do(t, Request{Method: "POST", Path: "/v1/auth/signup", Body: map[string]any{"email": "x@example.com", "password": "password-1", "is_admin": true}}), 400, "validation_failed")
	if m["errors"].([]any)[0].(map[string]any)["field"] != "is_admin" {
		t.Fatalf("%v", m)
	}
}

func TestLoginFailuresLookTheSame(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{})
	_, refresh, userID := s.Signup(t, "carol@example.com", "password-1")
	unknown := s.Do(t, Request{Method: "POST", Path: "/v1/auth/login", Body: creds("nobody@example.com", "password-1")})
	wrong := s.Do(t, Request{Method: "POST", Path: "/v1/auth/login", Body: creds("carol@example.com", "password-2")})
	wantProblem(t, unknown, 401, "invalid_credentials")
	wantProblem(t, wrong, 401, "invalid_credentials")
	if !bytes.Equal(unknown.Body, wrong.Body) {
		t.Fatalf("bodies differ:\n%s\n%s", unknown.Body, wrong.Body)
	}

	// Disabled by an admin: login and refresh are refused.
	admin := s.Admin(t)
	r := s.Do(t, Request{Method: "PATCH", Path: "/v1/admin/users/" + userID, Token: admin, Body: map[string]any{"is_active": false}})
	if r.Status != 200 || r.JSON(t)["is_active"] != false {
		t.Fatalf("disable: %d %s", r.Status, r.Body)
	}
	disabled := s.Do(t, Request{Method: "POST", Path: "/v1/auth/login", Body: creds("carol@example.com", "password-1")})
	wantProblem(t, disabled, 401, "invalid_credentials")
	if !bytes.Equal(disabled.Body, wrong.Body) {
		t.Fatalf("disabled account answers differently:\n%s\n%s", disabled.Body, wrong.Body)
	}
	wantProblem(t, s.Do(t, Request{Method: "POST", Path: "/v1/auth/refresh", Body: map[string]string{"refresh_token": refresh}}), 401, "invalid_token")
}

// TestIdentityPortRefusesAnonymousCalls: a caller reaching identity's gRPC
// port directly, without a valid service token, gets nothing.
func TestIdentityPortRefusesAnonymousCalls(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{})
	conn, err := grpc.NewClient(s.IdentityAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := identityv1.NewIdentityServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = c.Login(ctx, &identityv1.LoginRequest{Email: "a@example.com", Password: "password-1"})
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("Login without credentials: %v", err)
	}
	_, err = c.AdminListUsers(ctx, &identityv1.AdminListUsersRequest{})
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("ListUsers without credentials: %v", err)
	}
	// A service token signed with the wrong secret is refused too.
	m, err := callauth.NewMinter("gateway", []byte(strings.Repeat("w", 40)))
	if err != nil {
		t.Fatal(err)
	}
	bad, err := grpcservice.Dial(s.IdentityAddr, m.Credentials("identity"))
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	_, err = identityv1.NewIdentityServiceClient(bad).GetSigningKeys(ctx, &identityv1.GetSigningKeysRequest{})
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("GetSigningKeys with a forged service token: %v", err)
	}
	// With the right secret but no user token, a user method is refused.
	good, _ := callauth.NewMinter("gateway", []byte(Secret))
	gc, err := grpcservice.Dial(s.IdentityAddr, good.Credentials("identity"))
	if err != nil {
		t.Fatal(err)
	}
	defer gc.Close()
	_, err = identityv1.NewIdentityServiceClient(gc).GetUser(ctx, &identityv1.GetUserRequest{})
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("GetUser without a user token: %v", err)
	}
}
