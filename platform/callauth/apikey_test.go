package callauth_test

import (
	"context"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/meterflow/meterflow/platform/apikey"
	"github.com/meterflow/meterflow/platform/callauth"
	"github.com/meterflow/meterflow/platform/callauth/authtest"
	"github.com/meterflow/meterflow/platform/rpcerr"
	identityv1 "github.com/meterflow/meterflow/proto/gen/meterflow/identity/v1"
)

// TestKeyTokensReachOnlyTheirScopes: the token of a call made with an API
// key reaches a user method only when the method's rule names a scope the
// key has; never a method without a scope, never an admin method (its adm
// claim is ignored). A user's own token is unaffected.
func TestKeyTokensReachOnlyTheirScopes(t *testing.T) {
	t.Parallel()
	keys := authtest.NewKeys(t)
	auth := &callauth.Server{
		Service: "identity", Secret: []byte(authtest.Secret), Users: keys.Verifier(),
		Policy: callauth.Policy{
			// GetUser stands for a user method open to one scope; Login for
			// a user method no key reaches; AdminListUsers for an admin one.
			identityv1.IdentityService_GetUser_FullMethodName:        {Callers: []string{"gateway"}, Access: callauth.UserRequired, Scope: apikey.ScopeRunsRead},
			identityv1.IdentityService_Login_FullMethodName:          {Callers: []string{"gateway"}, Access: callauth.UserRequired},
			identityv1.IdentityService_AdminListUsers_FullMethodName: {Callers: []string{"gateway"}, Access: callauth.AdminRequired, Scope: apikey.ScopeRunsRead},
		},
	}
	srv := grpc.NewServer(grpc.UnaryInterceptor(auth.UnaryInterceptor()))
	identityv1.RegisterIdentityServiceServer(srv, fakeIdentity{})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(authtest.Minter(t, "gateway").Credentials("identity")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	c := identityv1.NewIdentityServiceClient(conn)

	as := func(tok string) context.Context { return callauth.WithUserToken(context.Background(), tok) }
	limit := int64(500)
	reader := as(keys.KeyToken(t, "u1", "k1", []string{apikey.ScopeRunsRead}, &limit, false))
	writer := as(keys.KeyToken(t, "u1", "k2", []string{apikey.ScopeRunsWrite}, nil, false))
	adminKey := as(keys.KeyToken(t, "a1", "k3", apikey.Scopes(), nil, true))
	login := as(keys.AccessToken(t, "u1", false))
	admin := as(keys.AccessToken(t, "a1", true))

	for _, tc := range []struct {
		name   string
		call   func() error
		code   codes.Code
		reason string
	}{
		{"key with the method's scope", func() error { _, err := c.GetUser(reader, &identityv1.GetUserRequest{}); return err }, codes.OK, ""},
		{"key without it", func() error { _, err := c.GetUser(writer, &identityv1.GetUserRequest{}); return err }, codes.PermissionDenied, rpcerr.InsufficientScope},
		{"key on a method without a scope", func() error { _, err := c.Login(adminKey, &identityv1.LoginRequest{}); return err }, codes.PermissionDenied, rpcerr.InsufficientScope},
		{"admin's key on an admin method", func() error {
			_, err := c.AdminListUsers(adminKey, &identityv1.AdminListUsersRequest{})
			return err
		}, codes.PermissionDenied, rpcerr.Forbidden},
		{"login on a method without a scope", func() error { _, err := c.Login(login, &identityv1.LoginRequest{}); return err }, codes.OK, ""},
		{"admin login on the admin method", func() error {
			_, err := c.AdminListUsers(admin, &identityv1.AdminListUsersRequest{})
			return err
		}, codes.OK, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if status.Code(err) != tc.code || rpcerr.Reason(err) != tc.reason {
				t.Fatalf("got %v (reason %q), want %v %q", err, rpcerr.Reason(err), tc.code, tc.reason)
			}
		})
	}
}

func TestKeyTokenPrincipal(t *testing.T) {
	t.Parallel()
	keys := authtest.NewKeys(t)
	limit := int64(250)
	p, err := keys.Verifier().Verify(context.Background(), keys.KeyToken(t, "u1", "k1", []string{apikey.ScopeRunsWrite}, &limit, true))
	if err != nil {
		t.Fatal(err)
	}
	if !p.ViaAPIKey() || p.KeyID != "k1" || p.Admin || p.SpendLimitCents == nil || *p.SpendLimitCents != 250 ||
		!p.HasScope(apikey.ScopeRunsWrite) || p.HasScope(apikey.ScopeRunsRead) {
		t.Fatalf("principal = %+v", p)
	}
	own, err := keys.Verifier().Verify(context.Background(), keys.AccessToken(t, "u1", false))
	if err != nil {
		t.Fatal(err)
	}
	if own.ViaAPIKey() || !own.HasScope(apikey.ScopeRunsRead) {
		t.Fatalf("own login = %+v", own)
	}
}
