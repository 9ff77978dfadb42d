package app_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/meterflow/meterflow/platform/database/dbtest"
	"github.com/meterflow/meterflow/platform/rpcerr"
	identityv1 "github.com/meterflow/meterflow/proto/gen/meterflow/identity/v1"
	"github.com/meterflow/meterflow/services/identity/app"
	"github.com/meterflow/meterflow/services/identity/migrations"
)

// TestLoginRefreshTTL: a login that asks for a refresh lifetime (the admin
// console asks for its session's) gets refresh tokens that die that long
// after the login, whatever their rotations; never longer than
// REFRESH_TOKEN_TTL.
func TestLoginRefreshTTL(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.signUp("quinn@example.com")
	login := func(ttl time.Duration) string {
		t.Helper()
		resp, err := b.client.Login(context.Background(), &identityv1.LoginRequest{Email: "quinn@example.com", Password: password, RefreshTtl: durationpb.New(ttl)})
		if err != nil {
			t.Fatal(err)
		}
		return resp.GetTokens().GetRefreshToken()
	}
	refresh := func(tok string) (string, error) {
		resp, err := b.client.Refresh(context.Background(), &identityv1.RefreshRequest{RefreshToken: tok})
		return resp.GetTokens().GetRefreshToken(), err
	}
	tok := login(8 * time.Hour)
	uncapped := login(10000 * time.Hour) // capped to the 720 h REFRESH_TOKEN_TTL
	b.clock.Advance(7*time.Hour + 59*time.Minute)
	tok, err := refresh(tok) // rotation does not restart the 8 h
	if err != nil {
		t.Fatalf("refresh within the login's 8 h: %v", err)
	}
	b.clock.Advance(2 * time.Minute)
	_, err = refresh(tok)
	wantErr(t, err, codes.Unauthenticated, rpcerr.InvalidToken)

	b.clock.Advance(700 * time.Hour)
	if uncapped, err = refresh(uncapped); err != nil {
		t.Fatalf("refresh within 720 h: %v", err)
	}
	b.clock.Advance(20 * time.Hour) // 720 h + 1 min after the login, 20 h after the rotation
	_, err = refresh(uncapped)
	wantErr(t, err, codes.Unauthenticated, rpcerr.InvalidToken)

	_, err = b.client.Login(context.Background(), &identityv1.LoginRequest{Email: "quinn@example.com", Password: password, RefreshTtl: durationpb.New(-time.Second)})
	wantErr(t, err, codes.InvalidArgument, rpcerr.ValidationFailed)
}

// TestSignUpRefreshTTL: a sign-up may ask for its first login's refresh
// lifetime as a login does (the user portal signs the new user in for its
// session's lifetime).
func TestSignUpRefreshTTL(t *testing.T) {
	t.Parallel()
	b := setup(t)
	resp, err := b.client.SignUp(context.Background(), &identityv1.SignUpRequest{Email: "sol@example.com", Password: password, RefreshTtl: durationpb.New(8 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	b.clock.Advance(7*time.Hour + 59*time.Minute)
	next, err := b.client.Refresh(context.Background(), &identityv1.RefreshRequest{RefreshToken: resp.GetTokens().GetRefreshToken()})
	if err != nil {
		t.Fatalf("refresh within the sign-up's 8 h: %v", err)
	}
	b.clock.Advance(2 * time.Minute)
	_, err = b.client.Refresh(context.Background(), &identityv1.RefreshRequest{RefreshToken: next.GetTokens().GetRefreshToken()})
	wantErr(t, err, codes.Unauthenticated, rpcerr.InvalidToken)

	_, err = b.client.SignUp(context.Background(), &identityv1.SignUpRequest{Email: "tam@example.com", Password: password, RefreshTtl: durationpb.New(-time.Second)})
	wantErr(t, err, codes.InvalidArgument, rpcerr.ValidationFailed)
}

// TestLoginBusy: when every argon2id slot is taken, a login waits within
// its deadline and then gets a retryable Unavailable (the gateway's 503),
// not Internal; the refused attempt is not counted as a failure.
func TestLoginBusy(t *testing.T) {
	t.Parallel()
	pool, url := dbtest.New(t, migrations.FS)
	b := startOn(t, pool, url, nil, fastArgon2, func(c *app.Config) { c.HashConcurrency = 1 })
	b.signUp("rita@example.com")
	release := b.app.HoldHashSlots()
	for range 6 {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		_, err := b.client.Login(ctx, &identityv1.LoginRequest{Email: "rita@example.com", Password: "wrong password", ClientIp: "203.0.113.5"})
		cancel()
		wantErr(t, err, codes.Unavailable, rpcerr.ServiceUnavailable)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	_, err := b.client.SignUp(ctx, &identityv1.SignUpRequest{Email: "sam@example.com", Password: password})
	cancel()
	wantErr(t, err, codes.Unavailable, rpcerr.ServiceUnavailable)
	if got := counter(t, b, "identity_logins_total", "busy"); got != 6 {
		t.Fatalf("identity_logins_total{result=busy} = %v, want 6", got)
	}
	release()
	// Six refusals counted nothing: the owner is not held off.
	if err := b.loginFrom("203.0.113.5", "rita@example.com", password); err != nil {
		t.Fatalf("login once a slot is free: %v", err)
	}
}
