package app_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/meterflow/meterflow/platform/rpcerr"
	identityv1 "github.com/meterflow/meterflow/proto/gen/meterflow/identity/v1"
)

func TestSignUp(t *testing.T) {
	t.Parallel()
	b := setup(t)
	resp := b.signUp("  Alice@Example.com ")
	u := resp.GetUser()
	if u.GetEmail() != "Alice@Example.com" || u.GetIsAdmin() || !u.GetIsActive() || u.GetId() == "" || u.GetCreatedAt() == nil {
		t.Fatalf("user = %v", u)
	}
	tok := resp.GetTokens()
	if tok.GetExpiresIn() != 900 || tok.GetRefreshToken() == "" || tok.GetAccessToken() == "" {
		t.Fatalf("tokens = %v", tok)
	}
	// The access token verifies exactly as the gateway verifies it.
	p, err := b.verifier().Verify(context.Background(), tok.GetAccessToken())
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if p.UserID != u.GetId() || p.Admin {
		t.Fatalf("principal = %+v", p)
	}
	if d := time.Until(p.ExpiresAt); d < 14*time.Minute || d > 15*time.Minute+time.Second {
		t.Fatalf("expires in %s, want 15m", d)
	}
	// GetUser with the new token returns the same user.
	got, err := b.client.GetUser(as(tok.GetAccessToken()), &identityv1.GetUserRequest{})
	if err != nil || got.GetUser().GetId() != u.GetId() {
		t.Fatalf("GetUser = %v, %v", got, err)
	}
}

func TestSignUpEmailTakenInAnyCase(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.signUp("bob@example.com")
	_, err := b.client.SignUp(context.Background(), &identityv1.SignUpRequest{Email: " BOB@Example.COM", Password: password})
	wantErr(t, err, codes.AlreadyExists, rpcerr.EmailTaken)
}

func TestSignUpValidation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tests := []struct {
		name, email, password string
		wantFields            []string // nil: accepted
	}{
		{"ok", "ok@example.com", "12345678", nil},
		{"8 multibyte runes", "runes@example.com", "éééééééé", nil},
		{"128 chars", "long@example.com", strings.Repeat("x", 128), nil},
		{"7 chars", "short@example.com", "1234567", []string{"password"}},
		{"7 multibyte runes (14 bytes)", "mb@example.com", "ééééééé", []string{"password"}},
		{"129 chars", "toolong@example.com", strings.Repeat("x", 129), []string{"password"}},
		{"empty email", "", password, []string{"email"}},
		{"no at sign", "not-an-email", password, []string{"email"}},
		{"display name", "Eve <eve@example.com>", password, []string{"email"}},
		{"angle brackets", "<eve@example.com>", password, []string{"email"}},
		{"two addresses", "a@example.com, b@example.com", password, []string{"email"}},
		{"255 chars", strings.Repeat("a", 243) + "@example.com", password, []string{"email"}},
		{"both bad", "nope", "short", []string{"email", "password"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := b.client.SignUp(context.Background(), &identityv1.SignUpRequest{Email: tt.email, Password: tt.password})
			if tt.wantFields == nil {
				if err != nil {
					t.Fatalf("SignUp: %v", err)
				}
				return
			}
			wantErr(t, err, codes.InvalidArgument, rpcerr.ValidationFailed)
			var got []string
			for _, f := range rpcerr.Fields(err) {
				got = append(got, f.Field)
				if f.Message == "" {
					t.Errorf("field %s has no message", f.Field)
				}
			}
			if strings.Join(got, ",") != strings.Join(tt.wantFields, ",") {
				t.Fatalf("fields = %v, want %v", got, tt.wantFields)
			}
		})
	}
}

func TestLogin(t *testing.T) {
	t.Parallel()
	b := setup(t)
	su := b.signUp("carol@example.com")
	resp, err := b.client.Login(context.Background(), &identityv1.LoginRequest{Email: "CAROL@example.com", Password: password})
	if err != nil {
		t.Fatalf("Login: %v", err)
	}
	if resp.GetUser().GetId() != su.GetUser().GetId() || resp.GetTokens().GetRefreshToken() == "" || resp.GetTokens().GetExpiresIn() != 900 {
		t.Fatalf("Login = %v", resp)
	}
	if _, err := b.verifier().Verify(context.Background(), resp.GetTokens().GetAccessToken()); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if got := counter(t, b, "identity_logins_total", "success"); got != 1 {
		t.Fatalf("identity_logins_total{result=success} = %v, want 1", got)
	}
}

func TestLoginFailuresAreIndistinguishable(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.signUp("dave@example.com")
	_, wrongPw := b.client.Login(context.Background(), &identityv1.LoginRequest{Email: "dave@example.com", Password: "wrong password"})
	_, unknown := b.client.Login(context.Background(), &identityv1.LoginRequest{Email: "nobody@example.com", Password: password})
	wantErr(t, wrongPw, codes.Unauthenticated, rpcerr.InvalidCredentials)
	wantErr(t, unknown, codes.Unauthenticated, rpcerr.InvalidCredentials)
	if status.Convert(wrongPw).Message() != status.Convert(unknown).Message() {
		t.Fatalf("messages differ: %q vs %q", status.Convert(wrongPw).Message(), status.Convert(unknown).Message())
	}
	if got := counter(t, b, "identity_logins_total", "invalid"); got != 2 {
		t.Fatalf("identity_logins_total{result=invalid} = %v, want 2", got)
	}
}

func TestDisabledUserCannotLoginOrRefresh(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, adminTok := b.admin("root@example.com")
	su := b.signUp("erin@example.com")
	refresh := su.GetTokens().GetRefreshToken()

	_, err := b.client.AdminUpdateUser(as(adminTok), &identityv1.AdminUpdateUserRequest{Id: su.GetUser().GetId(), IsActive: new(false), Reason: "abuse"})
	if err != nil {
		t.Fatalf("UpdateUser: %v", err)
	}
	_, loginErr := b.client.Login(context.Background(), &identityv1.LoginRequest{Email: "erin@example.com", Password: password})
	_, unknownErr := b.client.Login(context.Background(), &identityv1.LoginRequest{Email: "nobody@example.com", Password: password})
	wantErr(t, loginErr, codes.Unauthenticated, rpcerr.InvalidCredentials)
	if status.Convert(loginErr).Message() != status.Convert(unknownErr).Message() {
		t.Fatalf("disabled and unknown messages differ")
	}
	_, err = b.client.Refresh(context.Background(), &identityv1.RefreshRequest{RefreshToken: refresh})
	wantErr(t, err, codes.Unauthenticated, rpcerr.InvalidToken)
	// The disabled user's still-unexpired access token no longer works here.
	_, err = b.client.GetUser(as(su.GetTokens().GetAccessToken()), &identityv1.GetUserRequest{})
	wantErr(t, err, codes.Unauthenticated, rpcerr.Unauthorized)

	// Re-enabled, the user can log in again, but the old refresh token stays revoked.
	if _, err := b.client.AdminUpdateUser(as(adminTok), &identityv1.AdminUpdateUserRequest{Id: su.GetUser().GetId(), IsActive: new(true)}); err != nil {
		t.Fatalf("UpdateUser: %v", err)
	}
	if _, err := b.client.Login(context.Background(), &identityv1.LoginRequest{Email: "erin@example.com", Password: password}); err != nil {
		t.Fatalf("Login after enable: %v", err)
	}
	_, err = b.client.Refresh(context.Background(), &identityv1.RefreshRequest{RefreshToken: refresh})
	wantErr(t, err, codes.Unauthenticated, rpcerr.InvalidToken)
}

func TestRefreshRotates(t *testing.T) {
	t.Parallel()
	b := setup(t)
	su := b.signUp("frank@example.com")
	old := su.GetTokens().GetRefreshToken()
	resp, err := b.client.Refresh(context.Background(), &identityv1.RefreshRequest{RefreshToken: old})
	if err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	next := resp.GetTokens()
	if next.GetRefreshToken() == "" || next.GetRefreshToken() == old || next.GetExpiresIn() != 900 {
		t.Fatalf("tokens = %v", next)
	}
	p, err := b.verifier().Verify(context.Background(), next.GetAccessToken())
	if err != nil || p.UserID != su.GetUser().GetId() {
		t.Fatalf("Verify = %+v, %v", p, err)
	}
	// The new token rotates again; unknown tokens are refused.
	if _, err := b.client.Refresh(context.Background(), &identityv1.RefreshRequest{RefreshToken: next.GetRefreshToken()}); err != nil {
		t.Fatalf("second Refresh: %v", err)
	}
	for _, tok := range []string{"", "not-a-token", old} {
		_, err := b.client.Refresh(context.Background(), &identityv1.RefreshRequest{RefreshToken: tok})
		wantErr(t, err, codes.Unauthenticated, rpcerr.InvalidToken)
	}
}

func TestRefreshExpired(t *testing.T) {
	t.Parallel()
	b := setup(t)
	su := b.signUp("old@example.com")
	b.clock.Advance(720*time.Hour + time.Second)
	_, err := b.client.Refresh(context.Background(), &identityv1.RefreshRequest{RefreshToken: su.GetTokens().GetRefreshToken()})
	wantErr(t, err, codes.Unauthenticated, rpcerr.InvalidToken)
}

func TestRefreshReuseRevokesFamily(t *testing.T) {
	t.Parallel()
	b := setup(t)
	su := b.signUp("grace@example.com")
	first := su.GetTokens().GetRefreshToken()
	// Another login of the same user is another family and must survive.
	other, err := b.client.Login(context.Background(), &identityv1.LoginRequest{Email: "grace@example.com", Password: password})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := b.client.Refresh(context.Background(), &identityv1.RefreshRequest{RefreshToken: first})
	if err != nil {
		t.Fatal(err)
	}
	newest := resp.GetTokens().GetRefreshToken()

	_, err = b.client.Refresh(context.Background(), &identityv1.RefreshRequest{RefreshToken: first}) // stolen copy replayed
	wantErr(t, err, codes.Unauthenticated, rpcerr.InvalidToken)
	_, err = b.client.Refresh(context.Background(), &identityv1.RefreshRequest{RefreshToken: newest})
	wantErr(t, err, codes.Unauthenticated, rpcerr.InvalidToken)
	if _, err := b.client.Refresh(context.Background(), &identityv1.RefreshRequest{RefreshToken: other.GetTokens().GetRefreshToken()}); err != nil {
		t.Fatalf("other family was revoked too: %v", err)
	}
	if got := counter(t, b, "identity_refresh_reuse_detections_total", ""); got != 1 {
		t.Fatalf("reuse detections = %v, want 1", got)
	}
}

func TestConcurrentRefreshAtMostOneWins(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tok := b.signUp("heidi@example.com").GetTokens().GetRefreshToken()
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			_, errs[i] = b.client.Refresh(context.Background(), &identityv1.RefreshRequest{RefreshToken: tok})
		})
	}
	close(start)
	wg.Wait()
	wins := 0
	for _, err := range errs {
		if err == nil {
			wins++
			continue
		}
		wantErr(t, err, codes.Unauthenticated, rpcerr.InvalidToken)
	}
	// At most one may win; with a live token exactly one does.
	if wins != 1 {
		t.Fatalf("%d concurrent refreshes of one token succeeded, want exactly 1", wins)
	}
}

func TestLogout(t *testing.T) {
	t.Parallel()
	b := setup(t)
	su := b.signUp("ivan@example.com")
	first := su.GetTokens().GetRefreshToken()
	resp, err := b.client.Refresh(context.Background(), &identityv1.RefreshRequest{RefreshToken: first})
	if err != nil {
		t.Fatal(err)
	}
	current := resp.GetTokens().GetRefreshToken()
	// Logging out with any token of the family ends the whole login, and
	// repeating it, or using an unknown token, is fine.
	for _, tok := range []string{current, current, "unknown-token", ""} {
		if _, err := b.client.Logout(context.Background(), &identityv1.LogoutRequest{RefreshToken: tok}); err != nil {
			t.Fatalf("Logout(%q): %v", tok, err)
		}
	}
	_, err = b.client.Refresh(context.Background(), &identityv1.RefreshRequest{RefreshToken: current})
	wantErr(t, err, codes.Unauthenticated, rpcerr.InvalidToken)
}

// counter reads a counter of the service's registry; label "" for unlabelled ones.
func counter(t testing.TB, b *bundle, name, result string) float64 {
	t.Helper()
	mfs, err := b.app.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if result == "" || labelValue(m, "result") == result {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func labelValue(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}
