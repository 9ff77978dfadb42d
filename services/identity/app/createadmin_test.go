package app_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/meterflow/meterflow/platform/rpcerr"
	identityv1 "github.com/meterflow/meterflow/proto/gen/meterflow/identity/v1"
	"github.com/meterflow/meterflow/services/identity/app"
)

func TestCreateAdminNew(t *testing.T) {
	t.Parallel()
	b := setup(t)
	res, err := app.CreateAdmin(context.Background(), b.cfg, " Ops@Example.com ", password)
	if err != nil {
		t.Fatalf("CreateAdmin: %v", err)
	}
	if !res.Created || res.Email != "Ops@Example.com" || !res.IsActive {
		t.Fatalf("result = %+v", res)
	}
	resp, err := b.client.Login(context.Background(), &identityv1.LoginRequest{Email: "ops@example.com", Password: password})
	if err != nil || !resp.GetUser().GetIsAdmin() || !resp.GetUser().GetEmailVerified() {
		t.Fatalf("Login = %v, %v; want a verified admin", resp, err)
	}
	p, err := b.verifier().Verify(context.Background(), resp.GetTokens().GetAccessToken())
	if err != nil || !p.Admin {
		t.Fatalf("access token = %+v, %v; want adm=true", p, err)
	}
	// Same validation as sign-up.
	for _, tt := range []struct{ email, pw string }{{"new@example.com", "short"}, {"not an email", password}} {
		if _, err := app.CreateAdmin(context.Background(), b.cfg, tt.email, tt.pw); err == nil {
			t.Fatalf("CreateAdmin(%q, %q) accepted", tt.email, tt.pw)
		}
	}
}

// TestCreateAdminRefusesExisting: without --promote-existing, an email that
// already has an account (any letter case) is refused and nothing changes:
// whoever signed up with the operator's email does not become admin.
func TestCreateAdminRefusesExisting(t *testing.T) {
	t.Parallel()
	b := setup(t)
	squatter := b.signUp("ops@example.com")
	_, err := app.CreateAdmin(context.Background(), b.cfg, "OPS@example.com", "operator password")
	if !errors.Is(err, app.ErrAccountExists) {
		t.Fatalf("CreateAdmin on an existing email = %v, want ErrAccountExists", err)
	}
	// The squatter's account is as it was: not admin, own password, login alive.
	resp, err := b.client.Login(context.Background(), &identityv1.LoginRequest{Email: "ops@example.com", Password: password})
	if err != nil || resp.GetUser().GetIsAdmin() || resp.GetUser().GetEmailVerified() {
		t.Fatalf("squatter login = %v, %v; want a plain, unverified user", resp, err)
	}
	wantErr(t, b.login("ops@example.com", "operator password"), codes.Unauthenticated, rpcerr.InvalidCredentials)
	if _, err := b.client.Refresh(context.Background(), &identityv1.RefreshRequest{RefreshToken: squatter.GetTokens().GetRefreshToken()}); err != nil {
		t.Fatalf("squatter's refresh token stopped working: %v", err)
	}
	_, adminToken := b.admin("auditor@example.com")
	events, err := b.client.AdminListAuditEvents(as(adminToken), &identityv1.AdminListAuditEventsRequest{TargetId: squatter.GetUser().GetId()})
	if err != nil || len(events.GetEvents()) != 0 {
		t.Fatalf("audit events of a refused create-admin = %v, %v", events, err)
	}
}

// TestCreateAdminPromoteExisting: with --promote-existing the account
// becomes admin with the operator's password and a verified email, and
// every login the previous holder had ends, all in one go.
func TestCreateAdminPromoteExisting(t *testing.T) {
	t.Parallel()
	b := setup(t)
	squatter := b.signUp("promote@example.com")
	second, err := b.client.Login(context.Background(), &identityv1.LoginRequest{Email: "promote@example.com", Password: password})
	if err != nil {
		t.Fatal(err)
	}
	// The new password is validated as at sign-up, before anything changes.
	if _, err := app.CreateOrPromoteAdmin(context.Background(), b.cfg, "promote@example.com", "short"); err == nil {
		t.Fatal("a short password was accepted")
	}
	if err := b.login("promote@example.com", password); err != nil {
		t.Fatalf("a refused promotion changed the password: %v", err)
	}

	res, err := app.CreateOrPromoteAdmin(context.Background(), b.cfg, "PROMOTE@example.com", "operator password")
	if err != nil {
		t.Fatalf("CreateOrPromoteAdmin: %v", err)
	}
	if res.Created || res.UserID != squatter.GetUser().GetId() || !res.IsActive {
		t.Fatalf("result = %+v", res)
	}
	wantErr(t, b.login("promote@example.com", password), codes.Unauthenticated, rpcerr.InvalidCredentials)
	for _, tok := range []string{squatter.GetTokens().GetRefreshToken(), second.GetTokens().GetRefreshToken()} {
		_, err := b.client.Refresh(context.Background(), &identityv1.RefreshRequest{RefreshToken: tok})
		wantErr(t, err, codes.Unauthenticated, rpcerr.InvalidToken)
	}
	resp, err := b.client.Login(context.Background(), &identityv1.LoginRequest{Email: "promote@example.com", Password: "operator password"})
	if err != nil || !resp.GetUser().GetIsAdmin() || !resp.GetUser().GetEmailVerified() {
		t.Fatalf("Login with the operator's password = %v, %v; want a verified admin", resp, err)
	}
	events, err := b.client.AdminListAuditEvents(as(resp.GetTokens().GetAccessToken()), &identityv1.AdminListAuditEventsRequest{TargetId: squatter.GetUser().GetId()})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, ev := range events.GetEvents() {
		if ev.GetActorId() != "cli" {
			t.Errorf("event %s by %q, want cli", ev.GetAction(), ev.GetActorId())
		}
		actions = append(actions, ev.GetAction())
	}
	if strings.Join(actions, ",") != "user.credentials_reset,user.promote" && strings.Join(actions, ",") != "user.promote,user.credentials_reset" {
		t.Fatalf("audit actions = %v", actions)
	}
	// Running it again is harmless: still an admin, the new password works.
	if _, err := app.CreateOrPromoteAdmin(context.Background(), b.cfg, "promote@example.com", "operator password 2"); err != nil {
		t.Fatalf("second CreateOrPromoteAdmin: %v", err)
	}
	if err := b.login("promote@example.com", "operator password 2"); err != nil {
		t.Fatalf("login after the second promotion: %v", err)
	}
}
