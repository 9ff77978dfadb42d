package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/meterflow/meterflow/gateway/internal/apikeyauth"
	"github.com/meterflow/meterflow/platform/apikey"
	"github.com/meterflow/meterflow/platform/callauth"
	"github.com/meterflow/meterflow/platform/rpcerr"
	identityv1 "github.com/meterflow/meterflow/proto/gen/meterflow/identity/v1"
)

// accountIdentity stands in for identity's lifecycle methods: it records
// what the gateway sent and answers err when set. A token "good" verifies
// and resets; anything else is an invalid link, as identity answers.
type accountIdentity struct {
	*keyIdentity
	mu       sync.Mutex
	calls    []string
	err      error
	verified bool // GetUser's email_verified
	changed  *identityv1.ChangePasswordRequest
	reset    *identityv1.RequestPasswordResetRequest
}

var errLink = rpcerr.New(codes.InvalidArgument, rpcerr.InvalidToken, "the link is invalid, used or expired; ask for a new one")

func (a *accountIdentity) record(name string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls = append(a.calls, name)
	return a.err
}

func (a *accountIdentity) called(name string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, c := range a.calls {
		if c == name {
			n++
		}
	}
	return n
}

func (a *accountIdentity) VerifyEmail(_ context.Context, in *identityv1.VerifyEmailRequest, _ ...grpc.CallOption) (*identityv1.VerifyEmailResponse, error) {
	if err := a.record("VerifyEmail"); err != nil {
		return nil, err
	}
	if in.GetToken() != "good" {
		return nil, errLink
	}
	return &identityv1.VerifyEmailResponse{}, nil
}

func (a *accountIdentity) ResendVerification(context.Context, *identityv1.ResendVerificationRequest, ...grpc.CallOption) (*identityv1.ResendVerificationResponse, error) {
	return &identityv1.ResendVerificationResponse{}, a.record("ResendVerification")
}

func (a *accountIdentity) RequestPasswordReset(_ context.Context, in *identityv1.RequestPasswordResetRequest, _ ...grpc.CallOption) (*identityv1.RequestPasswordResetResponse, error) {
	a.mu.Lock()
	a.reset = in
	a.mu.Unlock()
	if !strings.Contains(in.GetEmail(), "@") {
		return nil, rpcerr.New(codes.InvalidArgument, rpcerr.ValidationFailed, "email must be a valid email address")
	}
	return &identityv1.RequestPasswordResetResponse{}, a.record("RequestPasswordReset")
}

func (a *accountIdentity) ConfirmPasswordReset(_ context.Context, in *identityv1.ConfirmPasswordResetRequest, _ ...grpc.CallOption) (*identityv1.ConfirmPasswordResetResponse, error) {
	if err := a.record("ConfirmPasswordReset"); err != nil {
		return nil, err
	}
	if in.GetToken() != "good" {
		return nil, errLink
	}
	return &identityv1.ConfirmPasswordResetResponse{}, nil
}

func (a *accountIdentity) ChangePassword(_ context.Context, in *identityv1.ChangePasswordRequest, _ ...grpc.CallOption) (*identityv1.ChangePasswordResponse, error) {
	a.mu.Lock()
	a.changed = in
	a.mu.Unlock()
	if in.GetCurrentPassword() != "current password" {
		return nil, rpcerr.New(codes.Unauthenticated, rpcerr.InvalidCredentials, "invalid email or password")
	}
	return &identityv1.ChangePasswordResponse{}, a.record("ChangePassword")
}

func (a *accountIdentity) LogoutAll(context.Context, *identityv1.LogoutAllRequest, ...grpc.CallOption) (*identityv1.LogoutAllResponse, error) {
	return &identityv1.LogoutAllResponse{}, a.record("LogoutAll")
}

func (a *accountIdentity) GetUser(context.Context, *identityv1.GetUserRequest, ...grpc.CallOption) (*identityv1.GetUserResponse, error) {
	_ = a.record("GetUser")
	a.mu.Lock()
	defer a.mu.Unlock()
	return &identityv1.GetUserResponse{User: &identityv1.User{Id: "u1", Email: "a@example.com", IsActive: true, EmailVerified: a.verified, CreatedAt: timestamppb.Now()}}, nil
}

func setupAccount(t *testing.T, limits Limits, requireVerified bool) (bundle, *accountIdentity) {
	t.Helper()
	id := &accountIdentity{keyIdentity: newKeyIdentity()}
	keys, err := apikeyauth.New(id, apikeyauth.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b := setup(t, setupOpts{
		limits: limits, identityClient: id, apiKeys: keys, wallet: &topUpWallet{}, requireVerified: requireVerified,
	})
	return b, id
}

// loginToken is a login's access token of u1, its ev claim verified.
func (b bundle) loginToken(t *testing.T, verified bool) string {
	return b.keys.test.Token(t, "u1", callauth.AccessClaims{SessionID: uuid.NewString(), EmailVerified: verified})
}

// TestAccountRoutes: each route of the section, its success and its
// errors as the contract words them.
func TestAccountRoutes(t *testing.T) {
	t.Parallel()
	b, id := setupAccount(t, Limits{AuthPerMinute: 1000, APIPerMinute: 1000, EmailsPerHour: 100}, false)
	tok := b.loginToken(t, false)
	key, _ := id.issue("u1", apikey.Scopes()...)
	tests := []struct {
		name, method, path, body, token string
		status                          int
		code                            string // problem code, or "" for a success
	}{
		{"verify", "POST", "/v1/auth/verify-email", `{"token":"good"}`, "", 204, ""},
		{"verify used or unknown", "POST", "/v1/auth/verify-email", `{"token":"used"}`, "", 400, rpcerr.InvalidToken},
		{"verify unknown field", "POST", "/v1/auth/verify-email", `{"token":"good","x":1}`, "", 400, rpcerr.ValidationFailed},
		{"resend", "POST", "/v1/me/verify-email", "", tok, 202, ""},
		{"resend without token", "POST", "/v1/me/verify-email", "", "", 401, rpcerr.Unauthorized},
		{"resend with a key", "POST", "/v1/me/verify-email", "", key, 403, rpcerr.InsufficientScope},
		{"reset request", "POST", "/v1/auth/password-reset", `{"email":"someone@example.com"}`, "", 202, ""},
		{"reset request bad email", "POST", "/v1/auth/password-reset", `{"email":"nope"}`, "", 400, rpcerr.ValidationFailed},
		{"reset confirm", "POST", "/v1/auth/password-reset/confirm", `{"token":"good","password":"a new password"}`, "", 204, ""},
		{"reset confirm bad link", "POST", "/v1/auth/password-reset/confirm", `{"token":"old","password":"a new password"}`, "", 400, rpcerr.InvalidToken},
		{"change password", "POST", "/v1/me/password", `{"current_password":"current password","new_password":"a new password"}`, tok, 204, ""},
		{"change password wrong current", "POST", "/v1/me/password", `{"current_password":"guess","new_password":"a new password"}`, tok, 401, rpcerr.InvalidCredentials},
		{"change password with a key", "POST", "/v1/me/password", `{"current_password":"current password","new_password":"x"}`, key, 403, rpcerr.InsufficientScope},
		{"logout all", "POST", "/v1/auth/logout-all", "", tok, 204, ""},
		{"logout all without token", "POST", "/v1/auth/logout-all", "", "", 401, rpcerr.Unauthorized},
		{"logout all with a key", "POST", "/v1/auth/logout-all", "", key, 403, rpcerr.InsufficientScope},
	}
	for _, tt := range tests {
		req := newReq(tt.method, tt.path, tt.body)
		if tt.token != "" {
			withToken(req, tt.token)
		}
		resp, body := b.do(t, req)
		if tt.code != "" {
			t.Run(tt.name, func(t *testing.T) { wantProblem(t, resp, body, tt.status, tt.code) })
			continue
		}
		if resp.StatusCode != tt.status || resp.Header.Get("RateLimit-Limit") == "" {
			t.Errorf("%s: status %d (RateLimit-Limit %q), want %d with the rate-limit headers; body %s", tt.name, resp.StatusCode, resp.Header.Get("RateLimit-Limit"), tt.status, body)
		}
		if tt.status == http.StatusAccepted {
			var a acceptedJSON
			if err := json.Unmarshal(body, &a); err != nil || a.Message == "" {
				t.Errorf("%s: body %s, want {\"message\"}", tt.name, body)
			}
		}
	}
	if c := id.changed; c == nil || c.GetClientIp() == "" {
		t.Errorf("ChangePassword got %v, want the client address for identity's throttle", c)
	}
	if n := id.called("ResendVerification"); n != 1 {
		t.Errorf("ResendVerification called %d times, want 1 (never for a key)", n)
	}
	// identity's already_verified is the contract's 409.
	id.err = rpcerr.New(codes.FailedPrecondition, rpcerr.AlreadyVerified, "the email is verified already")
	resp, body := b.do(t, withToken(newReq("POST", "/v1/me/verify-email", ""), tok))
	wantProblem(t, resp, body, http.StatusConflict, rpcerr.AlreadyVerified)
}

// TestEmailLimits: a reset request per address (any letter case) and a
// resent link per user are limited per hour, known address or not; other
// addresses are not held up.
func TestEmailLimits(t *testing.T) {
	t.Parallel()
	b, _ := setupAccount(t, Limits{AuthPerMinute: 1000, APIPerMinute: 1000, EmailsPerHour: 2}, false)
	reset := func(email string) (*http.Response, []byte) {
		return b.do(t, newReq("POST", "/v1/auth/password-reset", `{"email":"`+email+`"}`))
	}
	for _, e := range []string{"victim@example.com", " VICTIM@example.com"} {
		if resp, body := reset(e); resp.StatusCode != http.StatusAccepted {
			t.Fatalf("reset %q = %d %s", e, resp.StatusCode, body)
		}
	}
	resp, body := reset("victim@EXAMPLE.com")
	wantProblem(t, resp, body, http.StatusTooManyRequests, rpcerr.RateLimited)
	if resp.Header.Get("Retry-After") == "" || resp.Header.Get("RateLimit-Limit") != "2" {
		t.Fatalf("headers %v, want Retry-After and RateLimit-Limit 2", resp.Header)
	}
	if resp, body := reset("other@example.com"); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("another address = %d %s", resp.StatusCode, body)
	}

	tok := b.loginToken(t, false)
	for range 2 {
		if resp, body := b.do(t, withToken(newReq("POST", "/v1/me/verify-email", ""), tok)); resp.StatusCode != http.StatusAccepted {
			t.Fatalf("resend = %d %s", resp.StatusCode, body)
		}
	}
	resp, body = b.do(t, withToken(newReq("POST", "/v1/me/verify-email", ""), tok))
	wantProblem(t, resp, body, http.StatusTooManyRequests, rpcerr.RateLimited)
}

// TestRequireVerifiedEmail: with REQUIRE_VERIFIED_EMAIL, top-ups and runs
// answer 403 email_not_verified for an unverified user, by login token
// and by API key; a login token whose ev claim is stale passes after one
// question to identity; without the setting nothing is checked.
func TestRequireVerifiedEmail(t *testing.T) {
	t.Parallel()
	topUp := func(tok string) *http.Request {
		r := withToken(newReq("POST", "/v1/wallet/topups", `{"amount_cents":1000}`), tok)
		r.Header.Set("Idempotency-Key", uuid.NewString())
		return r
	}
	run := func(tok string) *http.Request {
		return withToken(newReq("POST", "/v1/workflows/echo/runs", `{"input":{}}`), tok)
	}
	routes := map[string]func(string) *http.Request{"top-up": topUp, "run": run}
	ok := map[string]int{"top-up": http.StatusCreated, "run": http.StatusOK}
	limits := Limits{AuthPerMinute: 1000, APIPerMinute: 1000, RunsPerMinute: 1000, TopUpsPerMinute: 1000}

	for _, require := range []bool{true, false} {
		b, id := setupAccount(t, limits, require)
		keyUnverified, _ := id.issue("u1", apikey.Scopes()...)
		keyVerified, keyID := id.issue("u1", apikey.Scopes()...)
		id.keyIdentity.mu.Lock()
		for _, r := range id.keyIdentity.keys {
			r.EmailVerified = r.GetKeyId() == keyID
		}
		id.keyIdentity.mu.Unlock()
		for name, req := range routes {
			if name == "top-up" {
				// Keys never reach top-ups (insufficient_scope); the
				// verified-email check must not change that.
				resp, body := b.do(t, req(keyVerified))
				wantProblem(t, resp, body, http.StatusForbidden, rpcerr.InsufficientScope)
			} else {
				if resp, body := b.do(t, req(keyVerified)); resp.StatusCode != ok[name] {
					t.Errorf("require=%v %s with a verified user's key = %d %s", require, name, resp.StatusCode, body)
				}
				resp, body := b.do(t, req(keyUnverified))
				if require {
					wantProblem(t, resp, body, http.StatusForbidden, rpcerr.EmailNotVerified)
				} else if resp.StatusCode != ok[name] {
					t.Errorf("require=false %s with an unverified user's key = %d %s", name, resp.StatusCode, body)
				}
			}
			if resp, body := b.do(t, req(b.loginToken(t, true))); resp.StatusCode != ok[name] {
				t.Errorf("require=%v %s verified = %d %s", require, name, resp.StatusCode, body)
			}
			asked := id.called("GetUser")
			id.mu.Lock()
			id.verified = false
			id.mu.Unlock()
			resp, body := b.do(t, req(b.loginToken(t, false)))
			if require {
				wantProblem(t, resp, body, http.StatusForbidden, rpcerr.EmailNotVerified)
				if id.called("GetUser") != asked+1 {
					t.Errorf("%s: identity asked %d times before refusing, want once", name, id.called("GetUser")-asked)
				}
			} else if resp.StatusCode != ok[name] || id.called("GetUser") != asked {
				t.Errorf("require=false %s unverified = %d %s (identity asked %d times)", name, resp.StatusCode, body, id.called("GetUser")-asked)
			}
			// Verified since the token was issued: identity says so.
			id.mu.Lock()
			id.verified = true
			id.mu.Unlock()
			if resp, body := b.do(t, req(b.loginToken(t, false))); resp.StatusCode != ok[name] {
				t.Errorf("require=%v %s with a stale claim = %d %s", require, name, resp.StatusCode, body)
			}
		}
	}
}
