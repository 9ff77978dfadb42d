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

// TestSecretRotation: a process started with a new INTERNAL_AUTH_SECRET
// and the old one as INTERNAL_AUTH_SECRET_PREVIOUS accepts the calls of
// processes still on the old secret, and of those already on the new one;
// once the previous secret is dropped, only the new one passes
// (regression: a rotation failed every call between old and new pods).
func TestSecretRotation(t *testing.T) {
	t.Parallel()
	oldSecret := []byte("the-old-internal-auth-secret-0123456789")
	newSecret := []byte("the-new-internal-auth-secret-0123456789")
	otherSecret := []byte("a-secret-of-another-deployment-01234567")
	keys := authtest.NewKeys(t)
	policy := callauth.Policy{identityv1.IdentityService_Login_FullMethodName: {Callers: []string{"gateway"}, Access: callauth.ServiceOnly}}
	verifier := callauth.AccessVerifier{Keys: keys, Issuer: authtest.Issuer, Audience: authtest.Audience}

	serve := func(auth *callauth.Server) string {
		srv := grpc.NewServer(grpc.UnaryInterceptor(auth.UnaryInterceptor()))
		identityv1.RegisterIdentityServiceServer(srv, fakeIdentity{})
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go func() { _ = srv.Serve(lis) }()
		t.Cleanup(srv.Stop)
		return lis.Addr().String()
	}
	login := func(addr string, secret []byte) codes.Code {
		m, err := callauth.NewMinter("gateway", secret)
		if err != nil {
			t.Fatal(err)
		}
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithPerRPCCredentials(m.Credentials("identity")))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_, err = identityv1.NewIdentityServiceClient(conn).Login(context.Background(), &identityv1.LoginRequest{})
		return status.Code(err)
	}

	rotating := serve(callauth.NewServer("identity", newSecret, verifier, policy, callauth.AcceptPrevious(oldSecret)))
	rotated := serve(callauth.NewServer("identity", newSecret, verifier, policy, callauth.AcceptPrevious(nil)))
	tests := []struct {
		name   string
		addr   string
		secret []byte
		want   codes.Code
	}{
		{"during rotation: a caller on the old secret", rotating, oldSecret, codes.OK},
		{"during rotation: a caller on the new secret", rotating, newSecret, codes.OK},
		{"during rotation: any other secret", rotating, otherSecret, codes.Unauthenticated},
		{"after rotation: the new secret", rotated, newSecret, codes.OK},
		{"after rotation: the old secret", rotated, oldSecret, codes.Unauthenticated},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := login(tc.addr, tc.secret); got != tc.want {
				t.Fatalf("code %v, want %v", got, tc.want)
			}
		})
	}
}
