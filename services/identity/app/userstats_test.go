package app_test

import (
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/meterflow/meterflow/platform/rpcerr"
	identityv1 "github.com/meterflow/meterflow/proto/gen/meterflow/identity/v1"
)

func TestAdminGetUserStats(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, tok := b.admin("root@example.com")
	plain := b.signUp("plain@example.com")
	gone := b.signUp("gone@example.com")
	if _, err := b.client.AdminUpdateUser(as(tok), &identityv1.AdminUpdateUserRequest{Id: gone.GetUser().GetId(), IsActive: new(false), Reason: "spam"}); err != nil {
		t.Fatalf("UpdateUser: %v", err)
	}

	_, err := b.client.AdminGetUserStats(as(plain.GetTokens().GetAccessToken()), &identityv1.AdminGetUserStatsRequest{})
	wantErr(t, err, codes.PermissionDenied, rpcerr.Forbidden)

	got, err := b.client.AdminGetUserStats(as(tok), &identityv1.AdminGetUserStatsRequest{})
	if err != nil {
		t.Fatalf("AdminGetUserStats: %v", err)
	}
	want := &identityv1.AdminGetUserStatsResponse{UsersTotal: 3, UsersActive: 2, Admins: 1, NewUsersToday: 3, NewUsers_30D: 3}
	if got.String() != want.String() {
		t.Fatalf("stats = %v, want %v", got, want)
	}

	// 31 days later nobody is new any more; the totals stay.
	b.clock.Advance(31 * 24 * time.Hour)
	got, err = b.client.AdminGetUserStats(as(tok), &identityv1.AdminGetUserStatsRequest{})
	if err != nil {
		t.Fatalf("AdminGetUserStats: %v", err)
	}
	want = &identityv1.AdminGetUserStatsResponse{UsersTotal: 3, UsersActive: 2, Admins: 1}
	if got.String() != want.String() {
		t.Fatalf("stats after 31 days = %v, want %v", got, want)
	}
}
