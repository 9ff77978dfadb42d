package app_test

import (
	"context"
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
	if err != nil || !resp.GetUser().GetIsAdmin() {
		t.Fatalf("Login = %v, %v", resp, err)
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

func TestCreateAdminPromotesExisting(t *testing.T) {
	t.Parallel()
	b := setup(t)
	su := b.signUp("promote@example.com")
	// The given password is ignored for an existing user: theirs stays.
	res, err := app.CreateAdmin(context.Background(), b.cfg, "PROMOTE@example.com", "some other password")
	if err != nil {
		t.Fatalf("CreateAdmin: %v", err)
	}
	if res.Created || res.UserID != su.GetUser().GetId() {
		t.Fatalf("result = %+v", res)
	}
	_, err = b.client.Login(context.Background(), &identityv1.LoginRequest{Email: "promote@example.com", Password: "some other password"})
	wantErr(t, err, codes.Unauthenticated, rpcerr.InvalidCredentials)
	resp, err := b.client.Login(context.Background(), &identityv1.LoginRequest{Email: "promote@example.com", Password: password})
	if err != nil || !resp.GetUser().GetIsAdmin() {
		t.Fatalf("Login = %v, %v", resp, err)
	}
	events, err := b.client.ListAuditEvents(as(resp.GetTokens().GetAccessToken()), &identityv1.ListAuditEventsRequest{TargetId: su.GetUser().GetId()})
	if err != nil || len(events.GetEvents()) != 1 {
		t.Fatalf("events = %v, %v", events, err)
	}
	if ev := events.GetEvents()[0]; ev.GetAction() != "user.promote" || ev.GetActorId() != "cli" {
		t.Fatalf("event = %v", ev)
	}
	// Running it again changes nothing and writes no event.
	if _, err := app.CreateAdmin(context.Background(), b.cfg, "promote@example.com", ""); err != nil {
		t.Fatalf("second CreateAdmin: %v", err)
	}
}
