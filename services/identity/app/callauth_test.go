package app_test

import (
	"context"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/meterflow/meterflow/platform/callauth"
	"github.com/meterflow/meterflow/platform/callauth/authtest"
	"github.com/meterflow/meterflow/platform/grpcservice"
	"github.com/meterflow/meterflow/platform/process"
	"github.com/meterflow/meterflow/platform/rpcerr"
	identityv1 "github.com/meterflow/meterflow/proto/gen/meterflow/identity/v1"
	"github.com/meterflow/meterflow/services/identity/app"
)

// noCreds sends no credentials at all.
type noCreds struct{}

func (noCreds) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return nil, nil
}
func (noCreds) RequireTransportSecurity() bool { return false }

func TestCallsNeedServiceCredentials(t *testing.T) {
	t.Parallel()
	b := setup(t)
	wrong, err := callauth.NewMinter("gateway", []byte("another-secret-of-at-least-32-bytes!!"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		creds  credentials.PerRPCCredentials
		code   codes.Code
		reason string
	}{
		{"no service token", noCreds{}, codes.Unauthenticated, rpcerr.Unauthorized},
		{"wrong secret", wrong.Credentials(app.Service), codes.Unauthenticated, rpcerr.Unauthorized},
		{"token for another service", authtest.Minter(t, "gateway").Credentials("wallet"), codes.Unauthenticated, rpcerr.Unauthorized},
		{"caller not allowed", authtest.Minter(t, "wallet").Credentials(app.Service), codes.PermissionDenied, rpcerr.Forbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := grpcservice.Dial(b.addr, tt.creds)
			if err != nil {
				t.Fatal(err)
			}
			client := identityv1.NewIdentityServiceClient(conn)
			defer conn.Close()
			_, err = client.SignUp(context.Background(), &identityv1.SignUpRequest{Email: "x@example.com", Password: password})
			wantErr(t, err, tt.code, tt.reason)
		})
	}

	// wallet and workflow may read the signing keys.
	cc, err := grpcservice.Dial(b.addr, authtest.Minter(t, "wallet").Credentials(app.Service))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	if _, err := identityv1.NewIdentityServiceClient(cc).GetSigningKeys(context.Background(), &identityv1.GetSigningKeysRequest{}); err != nil {
		t.Fatalf("GetSigningKeys as wallet: %v", err)
	}
	// Health is open to anyone (docker/k8s probes).
	hc, err := grpcservice.Dial(b.addr, noCreds{})
	if err != nil {
		t.Fatal(err)
	}
	defer hc.Close()
	if resp, err := healthpb.NewHealthClient(hc).Check(context.Background(), &healthpb.HealthCheckRequest{}); err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health = %v, %v", resp, err)
	}
	if err := process.CheckGRPC(context.Background(), b.addr); err != nil {
		t.Fatalf("Healthcheck: %v", err)
	}
}

func TestUserMethodsNeedValidAccessToken(t *testing.T) {
	t.Parallel()
	b := setup(t)
	// A token signed by a key identity never published is refused, as is none.
	foreign := authtest.NewKeys(t).AccessToken(t, "00000000-0000-0000-0000-000000000001", true)
	for _, ctx := range []context.Context{context.Background(), as(foreign), as("garbage")} {
		_, err := b.client.GetUser(ctx, &identityv1.GetUserRequest{})
		wantErr(t, err, codes.Unauthenticated, rpcerr.Unauthorized)
		_, err = b.client.AdminListUsers(ctx, &identityv1.AdminListUsersRequest{})
		wantErr(t, err, codes.Unauthenticated, rpcerr.Unauthorized)
	}
}
