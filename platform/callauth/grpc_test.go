package callauth_test

import (
	"context"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/meterflow/meterflow/platform/callauth"
	"github.com/meterflow/meterflow/platform/callauth/authtest"
	identityv1 "github.com/meterflow/meterflow/proto/gen/meterflow/identity/v1"
)

// fakeIdentity answers GetUser with the caller it was given.
type fakeIdentity struct {
	identityv1.UnimplementedIdentityServiceServer
}

func (fakeIdentity) GetUser(ctx context.Context, _ *identityv1.GetUserRequest) (*identityv1.GetUserResponse, error) {
	p, _ := callauth.UserFrom(ctx)
	return &identityv1.GetUserResponse{User: &identityv1.User{Id: p.UserID, IsAdmin: p.Admin}}, nil
}

func (fakeIdentity) AdminListUsers(context.Context, *identityv1.AdminListUsersRequest) (*identityv1.AdminListUsersResponse, error) {
	return &identityv1.AdminListUsersResponse{}, nil
}

func (fakeIdentity) Login(context.Context, *identityv1.LoginRequest) (*identityv1.LoginResponse, error) {
	return &identityv1.LoginResponse{}, nil
}

func TestServerPolicy(t *testing.T) {
	t.Parallel()
	keys := authtest.NewKeys(t)
	auth := &callauth.Server{
		Service: "identity", Secret: []byte(authtest.Secret), Users: keys.Verifier(),
		Policy: callauth.Policy{
			identityv1.IdentityService_Login_FullMethodName:          {Callers: []string{"gateway"}, Access: callauth.ServiceOnly},
			identityv1.IdentityService_GetUser_FullMethodName:        {Callers: []string{"gateway"}, Access: callauth.UserRequired},
			identityv1.IdentityService_AdminListUsers_FullMethodName: {Callers: []string{"gateway"}, Access: callauth.AdminRequired},
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

	dial := func(m *callauth.Minter) identityv1.IdentityServiceClient {
		opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
		if m != nil {
			opts = append(opts, grpc.WithPerRPCCredentials(m.Credentials("identity")))
		}
		conn, err := grpc.NewClient(lis.Addr().String(), opts...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conn.Close() })
		return identityv1.NewIdentityServiceClient(conn)
	}
	gateway := dial(authtest.Minter(t, "gateway"))
	wallet := dial(authtest.Minter(t, "wallet"))
	anonymous := dial(nil)
	wrongSecret, _ := callauth.NewMinter("gateway", []byte("another-secret-that-is-long-enough-0123"))
	forged := dial(wrongSecret)

	user := callauth.WithUserToken(context.Background(), keys.AccessToken(t, "u1", false))
	admin := callauth.WithUserToken(context.Background(), keys.AccessToken(t, "a1", true))
	bg := context.Background()

	tests := []struct {
		name string
		call func() error
		want codes.Code
	}{
		{"anonymous login", func() error { _, err := anonymous.Login(bg, &identityv1.LoginRequest{}); return err }, codes.Unauthenticated},
		{"wrong secret", func() error { _, err := forged.Login(bg, &identityv1.LoginRequest{}); return err }, codes.Unauthenticated},
		{"other service", func() error { _, err := wallet.Login(bg, &identityv1.LoginRequest{}); return err }, codes.PermissionDenied},
		{"gateway login", func() error { _, err := gateway.Login(bg, &identityv1.LoginRequest{}); return err }, codes.OK},
		{"user call without user", func() error { _, err := gateway.GetUser(bg, &identityv1.GetUserRequest{}); return err }, codes.Unauthenticated},
		{"user call with user", func() error { _, err := gateway.GetUser(user, &identityv1.GetUserRequest{}); return err }, codes.OK},
		{"anonymous with user token", func() error { _, err := anonymous.GetUser(user, &identityv1.GetUserRequest{}); return err }, codes.Unauthenticated},
		{"admin call as user", func() error { _, err := gateway.AdminListUsers(user, &identityv1.AdminListUsersRequest{}); return err }, codes.PermissionDenied},
		{"admin call as admin", func() error { _, err := gateway.AdminListUsers(admin, &identityv1.AdminListUsersRequest{}); return err }, codes.OK},
		{"method outside policy", func() error { _, err := gateway.Logout(admin, &identityv1.LogoutRequest{}); return err }, codes.PermissionDenied},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := status.Code(tc.call()); got != tc.want {
				t.Fatalf("code = %v, want %v", got, tc.want)
			}
		})
	}
	resp, err := gateway.GetUser(user, &identityv1.GetUserRequest{})
	if err != nil || resp.GetUser().GetId() != "u1" {
		t.Fatalf("GetUser saw caller %v, %v; want u1", resp.GetUser().GetId(), err)
	}
}
