package app_test

import (
	"context"
	"crypto/sha256"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/meterflow/meterflow/platform/apikey"
	"github.com/meterflow/meterflow/platform/rpcerr"
	identityv1 "github.com/meterflow/meterflow/proto/gen/meterflow/identity/v1"
)

const (
	verifyPath = "/app/verify-email"
	resetPath  = "/app/reset-password"
)

func (b *bundle) verify(token string) error {
	_, err := b.client.VerifyEmail(context.Background(), &identityv1.VerifyEmailRequest{Token: token})
	return err
}

func (b *bundle) requestReset(email string) {
	b.t.Helper()
	if _, err := b.client.RequestPasswordReset(context.Background(), &identityv1.RequestPasswordResetRequest{Email: email}); err != nil {
		b.t.Fatalf("RequestPasswordReset(%s): %v", email, err)
	}
}

func (b *bundle) confirmReset(token, pw string) error {
	_, err := b.client.ConfirmPasswordReset(context.Background(), &identityv1.ConfirmPasswordResetRequest{Token: token, Password: pw})
	return err
}

func (b *bundle) verified(token string) bool {
	b.t.Helper()
	u, err := b.client.GetUser(as(token), &identityv1.GetUserRequest{})
	if err != nil {
		b.t.Fatalf("GetUser: %v", err)
	}
	return u.GetUser().GetEmailVerified()
}

func (b *bundle) refreshErr(refresh string) error {
	_, err := b.client.Refresh(context.Background(), &identityv1.RefreshRequest{RefreshToken: refresh})
	return err
}

// TestSignUpSendsVerificationLink: the link is on PUBLIC_BASE_URL, its
// token is 256 random bits stored only as a SHA-256, it verifies the email
// once, and a used, unknown or expired link is invalid_token.
func TestSignUpSendsVerificationLink(t *testing.T) {
	t.Parallel()
	b := setup(t)
	su := b.signUp("vera@example.com")
	id, access := su.GetUser().GetId(), su.GetTokens().GetAccessToken()
	if su.GetUser().GetEmailVerified() {
		t.Fatal("a new user's email is verified")
	}
	token := b.lastLink("verify_email", id, verifyPath)
	if len(token) != 43 {
		t.Fatalf("token %d characters, want 43 (256 bits, base64url)", len(token))
	}
	sum := sha256.Sum256([]byte(token))
	var stored int
	if err := b.pool.QueryRow(context.Background(),
		`SELECT count(*) FROM account_tokens WHERE token_hash = $1 AND purpose = 'verify_email' AND user_id = $2 AND expires_at > now() + interval '47 hours'`, sum[:], id).Scan(&stored); err != nil || stored != 1 {
		t.Fatalf("stored hashes = %d, %v; want the link's SHA-256 with 48 h to live", stored, err)
	}

	wantErr(t, b.verify("not-a-token"), codes.InvalidArgument, rpcerr.InvalidToken)
	wantErr(t, b.verify(""), codes.InvalidArgument, rpcerr.InvalidToken)
	if err := b.verify(token); err != nil {
		t.Fatalf("VerifyEmail: %v", err)
	}
	if !b.verified(access) {
		t.Fatal("the email is not verified after the link was used")
	}
	wantErr(t, b.verify(token), codes.InvalidArgument, rpcerr.InvalidToken) // single use

	// An expired link does not verify.
	su2 := b.signUp("late@example.com")
	late := b.lastLink("verify_email", su2.GetUser().GetId(), verifyPath)
	b.clock.Advance(48*time.Hour + time.Minute)
	wantErr(t, b.verify(late), codes.InvalidArgument, rpcerr.InvalidToken)
}

// TestResendVerification: a new link ends the older ones; a verified email
// is already_verified; an API key cannot ask.
func TestResendVerification(t *testing.T) {
	t.Parallel()
	b := setup(t)
	su := b.signUp("rae@example.com")
	id, access := su.GetUser().GetId(), su.GetTokens().GetAccessToken()
	first := b.lastLink("verify_email", id, verifyPath)
	if _, err := b.client.ResendVerification(as(access), &identityv1.ResendVerificationRequest{}); err != nil {
		t.Fatalf("ResendVerification: %v", err)
	}
	second := b.lastLink("verify_email", id, verifyPath)
	if second == first {
		t.Fatal("the resent link is the first one")
	}
	wantErr(t, b.verify(first), codes.InvalidArgument, rpcerr.InvalidToken)
	if err := b.verify(second); err != nil {
		t.Fatalf("VerifyEmail(new link): %v", err)
	}
	_, err := b.client.ResendVerification(as(access), &identityv1.ResendVerificationRequest{})
	wantErr(t, err, codes.FailedPrecondition, rpcerr.AlreadyVerified)

	key := b.createKey(access, "script", apikey.ScopeRunsRead)
	ka, err := b.authenticate(key.GetSecret())
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.client.ResendVerification(as(ka.GetAccessToken()), &identityv1.ResendVerificationRequest{})
	wantErr(t, err, codes.PermissionDenied, rpcerr.InsufficientScope)
}

// TestPasswordReset: a new request voids the older link; the newest sets
// the password once, revokes every refresh token, marks the email
// verified and sends "password changed"; a used or expired link is
// invalid_token.
func TestPasswordReset(t *testing.T) {
	t.Parallel()
	b := setup(t)
	su := b.signUp("Rita@Example.com")
	id := su.GetUser().GetId()
	login, err := b.client.Login(context.Background(), &identityv1.LoginRequest{Email: "rita@example.com", Password: password})
	if err != nil {
		t.Fatal(err)
	}
	b.requestReset("rita@example.com")
	older := b.lastLink("password_reset", id, resetPath)
	b.requestReset("  RITA@example.com ")
	newer := b.lastLink("password_reset", id, resetPath)
	if older == newer || len(b.emails("password_reset", id)) != 2 {
		t.Fatal("want two reset emails with different links")
	}
	wantErr(t, b.confirmReset(older, "a new password"), codes.InvalidArgument, rpcerr.InvalidToken)

	// A bad password is refused before the link is used.
	wantErr(t, b.confirmReset(newer, "short"), codes.InvalidArgument, rpcerr.ValidationFailed)
	if err := b.confirmReset(newer, "a new password"); err != nil {
		t.Fatalf("ConfirmPasswordReset: %v", err)
	}
	wantErr(t, b.confirmReset(newer, "another password"), codes.InvalidArgument, rpcerr.InvalidToken)

	for _, refresh := range []string{su.GetTokens().GetRefreshToken(), login.GetTokens().GetRefreshToken()} {
		wantErr(t, b.refreshErr(refresh), codes.Unauthenticated, rpcerr.InvalidToken)
	}
	if _, err := b.client.Login(context.Background(), &identityv1.LoginRequest{Email: "rita@example.com", Password: password}); err == nil {
		t.Fatal("the old password still logs in")
	}
	again, err := b.client.Login(context.Background(), &identityv1.LoginRequest{Email: "rita@example.com", Password: "a new password"})
	if err != nil {
		t.Fatalf("Login with the new password: %v", err)
	}
	if !again.GetUser().GetEmailVerified() {
		t.Fatal("a reset did not mark the email verified")
	}
	changed := b.emails("password_changed", id)
	if len(changed) != 1 || changed[0].GetData()["changed_at"] == "" {
		t.Fatalf("password_changed emails = %v, want one", changed)
	}
	// The reset also ended the verification link of the sign-up.
	wantErr(t, b.verify(b.lastLink("verify_email", id, verifyPath)), codes.InvalidArgument, rpcerr.InvalidToken)

	b.requestReset("rita@example.com")
	expired := b.lastLink("password_reset", id, resetPath)
	b.clock.Advance(30*time.Minute + time.Second)
	wantErr(t, b.confirmReset(expired, "yet another one"), codes.InvalidArgument, rpcerr.InvalidToken)
}

// TestPasswordResetUnknownOrDisabled: the same empty answer, and no email,
// for an unknown address and a disabled account; a malformed address is
// validation_failed.
func TestPasswordResetUnknownOrDisabled(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, adminTok := b.admin("root@example.com")
	su := b.signUp("dora@example.com")
	id := su.GetUser().GetId()
	if _, err := b.client.AdminUpdateUser(as(adminTok), &identityv1.AdminUpdateUserRequest{Id: id, IsActive: new(false)}); err != nil {
		t.Fatal(err)
	}
	b.requestReset("dora@example.com")
	b.requestReset("nobody@example.com")
	if sent := b.emails("password_reset", id); len(sent) != 0 {
		t.Fatalf("a disabled account got %d reset emails", len(sent))
	}
	b.notify.mu.Lock()
	for _, e := range b.notify.emails {
		if e.GetTemplate() == "password_reset" {
			t.Errorf("reset email sent to %v", e.GetRecipient())
		}
	}
	b.notify.mu.Unlock()
	var links int
	if err := b.pool.QueryRow(context.Background(), `SELECT count(*) FROM account_tokens WHERE purpose = 'password_reset'`).Scan(&links); err != nil || links != 0 {
		t.Fatalf("reset links = %d, %v; want none", links, err)
	}
	for _, bad := range []string{"", "not an email", "Bob <bob@example.com>"} {
		_, err := b.client.RequestPasswordReset(context.Background(), &identityv1.RequestPasswordResetRequest{Email: bad})
		wantErr(t, err, codes.InvalidArgument, rpcerr.ValidationFailed)
	}
}

// TestChangePassword: the current password is checked (and counted by the
// login throttle); the caller's login survives, every other ends; a
// "password changed" email goes out; an API key cannot change it.
func TestChangePassword(t *testing.T) {
	t.Parallel()
	b := setup(t)
	su := b.signUp("cole@example.com")
	id, access := su.GetUser().GetId(), su.GetTokens().GetAccessToken()
	other, err := b.client.Login(context.Background(), &identityv1.LoginRequest{Email: "cole@example.com", Password: password})
	if err != nil {
		t.Fatal(err)
	}
	change := func(token, current, next string) error {
		_, err := b.client.ChangePassword(as(token), &identityv1.ChangePasswordRequest{CurrentPassword: current, NewPassword: next, ClientIp: "198.51.100.7"})
		return err
	}
	wantErr(t, change(access, "wrong password", "a new password"), codes.Unauthenticated, rpcerr.InvalidCredentials)
	wantErr(t, change(access, password, "short"), codes.InvalidArgument, rpcerr.ValidationFailed)
	key := b.createKey(access, "script", apikey.ScopeRunsRead, apikey.ScopeRunsWrite, apikey.ScopeWalletRead, apikey.ScopeWorkflowsRead)
	ka, err := b.authenticate(key.GetSecret())
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, change(ka.GetAccessToken(), password, "a new password"), codes.PermissionDenied, rpcerr.InsufficientScope)

	if err := change(access, password, "a new password"); err != nil {
		t.Fatalf("ChangePassword: %v", err)
	}
	if err := b.refreshErr(su.GetTokens().GetRefreshToken()); err != nil {
		t.Fatalf("the caller's login ended: %v", err)
	}
	wantErr(t, b.refreshErr(other.GetTokens().GetRefreshToken()), codes.Unauthenticated, rpcerr.InvalidToken)
	if _, err := b.client.Login(context.Background(), &identityv1.LoginRequest{Email: "cole@example.com", Password: "a new password"}); err != nil {
		t.Fatalf("Login with the new password: %v", err)
	}
	if sent := b.emails("password_changed", id); len(sent) != 1 {
		t.Fatalf("password_changed emails = %d, want 1", len(sent))
	}

	// Guessing the current password is throttled like logins.
	var last error
	for range 7 {
		last = change(access, "guess", "whatever123")
	}
	wantErr(t, last, codes.ResourceExhausted, rpcerr.RateLimited)
}

// TestLogoutAll: every refresh token of the user is revoked; an API key
// cannot do it.
func TestLogoutAll(t *testing.T) {
	t.Parallel()
	b := setup(t)
	su := b.signUp("lou@example.com")
	other, err := b.client.Login(context.Background(), &identityv1.LoginRequest{Email: "lou@example.com", Password: password})
	if err != nil {
		t.Fatal(err)
	}
	access := su.GetTokens().GetAccessToken()
	key := b.createKey(access, "script", apikey.ScopeRunsRead)
	ka, err := b.authenticate(key.GetSecret())
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.client.LogoutAll(as(ka.GetAccessToken()), &identityv1.LogoutAllRequest{})
	wantErr(t, err, codes.PermissionDenied, rpcerr.InsufficientScope)
	if _, err := b.client.LogoutAll(as(access), &identityv1.LogoutAllRequest{}); err != nil {
		t.Fatalf("LogoutAll: %v", err)
	}
	for _, refresh := range []string{su.GetTokens().GetRefreshToken(), other.GetTokens().GetRefreshToken()} {
		wantErr(t, b.refreshErr(refresh), codes.Unauthenticated, rpcerr.InvalidToken)
	}
}

// TestEmailOnlyWithItsChange: the outbox row is written in the change's
// transaction: a sign-up that fails (email taken) and a reset confirm
// that fails (disabled account) leave no email job, no link and no
// password change.
func TestEmailOnlyWithItsChange(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, adminTok := b.admin("root@example.com")
	su := b.signUp("ola@example.com")
	id := su.GetUser().GetId()
	b.requestReset("ola@example.com")
	token := b.lastLink("password_reset", id, resetPath)
	count := func() (jobs, links int) {
		t.Helper()
		if err := b.pool.QueryRow(context.Background(),
			`SELECT (SELECT count(*) FROM river_job WHERE kind = 'outbox_email'), (SELECT count(*) FROM account_tokens)`).Scan(&jobs, &links); err != nil {
			t.Fatal(err)
		}
		return jobs, links
	}
	jobs, links := count()
	if jobs != 2 || links != 2 {
		t.Fatalf("after sign-up and reset: %d email jobs, %d links; want 2 and 2", jobs, links)
	}

	_, err := b.client.SignUp(context.Background(), &identityv1.SignUpRequest{Email: "OLA@example.com", Password: password})
	wantErr(t, err, codes.AlreadyExists, rpcerr.EmailTaken)
	if _, err := b.client.AdminUpdateUser(as(adminTok), &identityv1.AdminUpdateUserRequest{Id: id, IsActive: new(false)}); err != nil {
		t.Fatal(err)
	}
	wantErr(t, b.confirmReset(token, "a new password"), codes.InvalidArgument, rpcerr.InvalidToken)
	if j, l := count(); j != jobs || l != links {
		t.Fatalf("failed changes wrote %d email jobs and %d links", j-jobs, l-links)
	}
	if sent := b.emails("password_changed", id); len(sent) != 0 {
		t.Fatal("a failed reset sent password_changed")
	}
	// The link was not used up by the refused confirm: the rollback kept it live.
	var used bool
	sum := sha256.Sum256([]byte(token))
	if err := b.pool.QueryRow(context.Background(), `SELECT used_at IS NOT NULL FROM account_tokens WHERE token_hash = $1`, sum[:]).Scan(&used); err != nil || used {
		t.Fatalf("link used = %v, %v; want live after the rollback", used, err)
	}
}
