package grpcapi_test

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/meterflow/meterflow/platform/callauth/authtest"
	identityv1 "github.com/meterflow/meterflow/proto/gen/meterflow/identity/v1"
)

// TestGetUserContact: notify, and only notify, learns where to reach a
// user; an unknown or malformed id is NotFound.
func TestGetUserContact(t *testing.T) {
	t.Parallel()
	h := setup(t)
	id, _ := h.admin(t, "Root@Example.com")
	client := func(caller string) identityv1.IdentityServiceClient {
		conn, err := grpc.NewClient(h.addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithPerRPCCredentials(authtest.Minter(t, caller).Credentials("identity")))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conn.Close() })
		return identityv1.NewIdentityServiceClient(conn)
	}
	notify, ctx := client("notify"), context.Background()

	got, err := notify.GetUserContact(ctx, &identityv1.GetUserContactRequest{UserId: id})
	if err != nil || got.GetEmail() != "Root@Example.com" || !got.GetEmailVerified() || !got.GetIsActive() {
		t.Fatalf("GetUserContact = %v, %v; want the admin's address, verified and active", got, err)
	}
	for _, bad := range []string{uuid.NewString(), "not-a-uuid", ""} {
		if _, err := notify.GetUserContact(ctx, &identityv1.GetUserContactRequest{UserId: bad}); status.Code(err) != codes.NotFound {
			t.Errorf("GetUserContact(%q) = %v, want NotFound", bad, err)
		}
	}
	if _, err := client("wallet").GetUserContact(ctx, &identityv1.GetUserContactRequest{UserId: id}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("GetUserContact from the wallet = %v, want PermissionDenied", err)
	}
}
