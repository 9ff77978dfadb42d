package app_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/meterflow/meterflow/platform/rpcerr"
	identityv1 "github.com/meterflow/meterflow/proto/gen/meterflow/identity/v1"
)

func TestNonAdminRefusedOnAdminMethods(t *testing.T) {
	t.Parallel()
	b := setup(t)
	su := b.signUp("user@example.com")
	ctx := as(su.GetTokens().GetAccessToken())
	_, err := b.client.AdminListUsers(ctx, &identityv1.AdminListUsersRequest{})
	wantErr(t, err, codes.PermissionDenied, rpcerr.Forbidden)
	_, err = b.client.AdminUpdateUser(ctx, &identityv1.AdminUpdateUserRequest{Id: su.GetUser().GetId(), IsAdmin: new(true)})
	wantErr(t, err, codes.PermissionDenied, rpcerr.Forbidden)
	_, err = b.client.AdminListAuditEvents(ctx, &identityv1.AdminListAuditEventsRequest{})
	wantErr(t, err, codes.PermissionDenied, rpcerr.Forbidden)
}

func TestDemotedAdminTokenRefused(t *testing.T) {
	t.Parallel()
	b := setup(t)
	root, rootTok := b.admin("root@example.com")
	other, otherTok := b.admin("other@example.com")
	if _, err := b.client.AdminListUsers(as(otherTok), &identityv1.AdminListUsersRequest{}); err != nil {
		t.Fatalf("ListUsers as admin: %v", err)
	}
	resp, err := b.client.AdminUpdateUser(as(rootTok), &identityv1.AdminUpdateUserRequest{Id: other.GetId(), IsAdmin: new(false), Reason: "left the team"})
	if err != nil {
		t.Fatalf("UpdateUser: %v", err)
	}
	if resp.GetUser().GetIsAdmin() {
		t.Fatalf("still admin: %v", resp.GetUser())
	}
	// other's token still says adm=true and is unexpired, but identity checks the stored flag.
	_, err = b.client.AdminListUsers(as(otherTok), &identityv1.AdminListUsersRequest{})
	wantErr(t, err, codes.PermissionDenied, rpcerr.Forbidden)
	_, err = b.client.GetUser(as(otherTok), &identityv1.GetUserRequest{Id: root.GetId()})
	wantErr(t, err, codes.NotFound, rpcerr.NotFound)

	events, err := b.client.AdminListAuditEvents(as(rootTok), &identityv1.AdminListAuditEventsRequest{TargetId: other.GetId()})
	if err != nil {
		t.Fatal(err)
	}
	if len(events.GetEvents()) != 2 { // create_admin by cli, then demote
		t.Fatalf("events = %v", events.GetEvents())
	}
	ev := events.GetEvents()[0]
	if ev.GetAction() != "user.demote" || ev.GetActorId() != root.GetId() || ev.GetReason() != "left the team" || ev.GetTargetType() != "user" {
		t.Fatalf("newest event = %v", ev)
	}
	var before, after map[string]bool
	if json.Unmarshal(ev.GetBeforeJson(), &before) != nil || json.Unmarshal(ev.GetAfterJson(), &after) != nil ||
		!before["is_admin"] || after["is_admin"] {
		t.Fatalf("before %s after %s", ev.GetBeforeJson(), ev.GetAfterJson())
	}
	if got := events.GetEvents()[1]; got.GetAction() != "user.create_admin" || got.GetActorId() != "cli" {
		t.Fatalf("oldest event = %v", got)
	}
}

func TestAdminCannotDisableOrDemoteSelf(t *testing.T) {
	t.Parallel()
	b := setup(t)
	root, tok := b.admin("root@example.com")
	for _, req := range []*identityv1.AdminUpdateUserRequest{
		{Id: root.GetId(), IsActive: new(false)},
		{Id: root.GetId(), IsAdmin: new(false)},
	} {
		_, err := b.client.AdminUpdateUser(as(tok), req)
		wantErr(t, err, codes.FailedPrecondition, rpcerr.Conflict)
	}
	// A no-op on oneself is fine and writes no audit event.
	if _, err := b.client.AdminUpdateUser(as(tok), &identityv1.AdminUpdateUserRequest{Id: root.GetId(), IsAdmin: new(true)}); err != nil {
		t.Fatalf("no-op UpdateUser: %v", err)
	}
	events, err := b.client.AdminListAuditEvents(as(tok), &identityv1.AdminListAuditEventsRequest{TargetId: root.GetId()})
	if err != nil || len(events.GetEvents()) != 1 {
		t.Fatalf("events = %v, %v", events.GetEvents(), err)
	}
	_, err = b.client.AdminUpdateUser(as(tok), &identityv1.AdminUpdateUserRequest{Id: "00000000-0000-0000-0000-000000000000", IsActive: new(false)})
	wantErr(t, err, codes.NotFound, rpcerr.NotFound)
}

func TestGetUser(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, adminTok := b.admin("root@example.com")
	alice := b.signUp("alice@example.com")
	bob := b.signUp("bob@example.com")
	aliceCtx := as(alice.GetTokens().GetAccessToken())

	for _, id := range []string{"", alice.GetUser().GetId()} {
		got, err := b.client.GetUser(aliceCtx, &identityv1.GetUserRequest{Id: id})
		if err != nil || got.GetUser().GetEmail() != "alice@example.com" {
			t.Fatalf("GetUser(%q) = %v, %v", id, got, err)
		}
	}
	// A non-admin cannot tell another user from a missing one.
	for _, id := range []string{bob.GetUser().GetId(), "00000000-0000-0000-0000-000000000000", "junk"} {
		_, err := b.client.GetUser(aliceCtx, &identityv1.GetUserRequest{Id: id})
		wantErr(t, err, codes.NotFound, rpcerr.NotFound)
	}
	got, err := b.client.GetUser(as(adminTok), &identityv1.GetUserRequest{Id: bob.GetUser().GetId()})
	if err != nil || got.GetUser().GetEmail() != "bob@example.com" {
		t.Fatalf("admin GetUser = %v, %v", got, err)
	}
	_, err = b.client.GetUser(as(adminTok), &identityv1.GetUserRequest{Id: "00000000-0000-0000-0000-000000000000"})
	wantErr(t, err, codes.NotFound, rpcerr.NotFound)
}

func TestListUsers(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, tok := b.admin("root@example.com")
	for i := range 5 {
		b.signUp(fmt.Sprintf("Member%d@Example.com", i))
	}
	b.signUp("outsider@other.org")
	ctx := as(tok)

	var emails []string
	cursor := ""
	for page := 0; ; page++ {
		resp, err := b.client.AdminListUsers(ctx, &identityv1.AdminListUsersRequest{Query: "mEmBeR", Limit: 2, Cursor: cursor})
		if err != nil {
			t.Fatalf("ListUsers: %v", err)
		}
		for _, u := range resp.GetUsers() {
			emails = append(emails, u.GetEmail())
		}
		cursor = resp.GetNextCursor()
		if cursor == "" {
			break
		}
		if page > 5 {
			t.Fatal("pagination does not end")
		}
	}
	want := []string{"Member4@Example.com", "Member3@Example.com", "Member2@Example.com", "Member1@Example.com", "Member0@Example.com"}
	if fmt.Sprint(emails) != fmt.Sprint(want) {
		t.Fatalf("emails = %v, want newest first %v", emails, want)
	}
	all, err := b.client.AdminListUsers(ctx, &identityv1.AdminListUsersRequest{})
	if err != nil || len(all.GetUsers()) != 7 || all.GetNextCursor() != "" {
		t.Fatalf("ListUsers() = %d users, cursor %q, %v", len(all.GetUsers()), all.GetNextCursor(), err)
	}
	for _, bad := range []*identityv1.AdminListUsersRequest{{Cursor: "!!!"}, {Cursor: "bm9wZQ"}, {Limit: -1}} {
		_, err := b.client.AdminListUsers(ctx, bad)
		wantErr(t, err, codes.InvalidArgument, rpcerr.ValidationFailed)
	}
}

func TestListAuditEventsPages(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, tok := b.admin("root@example.com")
	u := b.signUp("target@example.com").GetUser()
	for i := range 3 {
		if _, err := b.client.AdminUpdateUser(as(tok), &identityv1.AdminUpdateUserRequest{Id: u.GetId(), IsActive: new(i%2 == 1), Reason: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	first, err := b.client.AdminListAuditEvents(as(tok), &identityv1.AdminListAuditEventsRequest{TargetId: u.GetId(), Limit: 2})
	if err != nil || len(first.GetEvents()) != 2 || first.GetNextCursor() == "" {
		t.Fatalf("first page = %v, %v", first, err)
	}
	second, err := b.client.AdminListAuditEvents(as(tok), &identityv1.AdminListAuditEventsRequest{TargetId: u.GetId(), Limit: 2, Cursor: first.GetNextCursor()})
	if err != nil || len(second.GetEvents()) != 1 || second.GetNextCursor() != "" {
		t.Fatalf("second page = %v, %v", second, err)
	}
	got := []string{first.GetEvents()[0].GetAction(), first.GetEvents()[1].GetAction(), second.GetEvents()[0].GetAction()}
	if fmt.Sprint(got) != "[user.disable user.enable user.disable]" {
		t.Fatalf("actions newest first = %v", got)
	}
}
