package app_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/meterflow/meterflow/platform/callauth/authtest"
	"github.com/meterflow/meterflow/platform/grpcservice"
	"github.com/meterflow/meterflow/platform/rpcerr"
	notifyv1 "github.com/meterflow/meterflow/proto/gen/meterflow/notify/v1"
)

// TestSendEmailIsIdempotent: the same key, however often and however
// concurrently, stores one email and sends it once; the same key with
// another request is refused; another producer's equal key is its own.
func TestSendEmailIsIdempotent(t *testing.T) {
	t.Parallel()
	h := setup(t)
	user := h.identity.addUser("ada@example.com", true)
	req := verifyEmail("identity:1", user, "tok-1")

	ids := make([]string, 8)
	created := make([]bool, 8)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Go(func() {
			res := h.send(t, req)
			ids[i], created[i] = res.GetEmailId(), res.GetCreated()
		})
	}
	wg.Wait()
	nCreated := 0
	for i := range ids {
		if ids[i] != ids[0] {
			t.Fatalf("ids = %v, want one id", ids)
		}
		if created[i] {
			nCreated++
		}
	}
	if nCreated != 1 {
		t.Fatalf("created %d times, want once", nCreated)
	}
	row := h.waitEmail(t, ids[0], final)
	if row.Status != "sent" || row.Attempts != 1 || row.Data != "{}" {
		t.Fatalf("email = %+v, want sent once with its data erased", row)
	}
	// A repeat after the send stores and sends nothing either.
	if res := h.send(t, req); res.GetEmailId() != ids[0] || res.GetCreated() {
		t.Fatalf("repeat after the send = %v", res)
	}
	if states := h.waitJobs(t); len(states) != 1 || states[0] != "completed" {
		t.Fatalf("send jobs %v, want one, completed", states)
	}
	msgs := h.smtp.Messages()
	if len(msgs) != 1 || h.smtp.Attempts() != 1 {
		t.Fatalf("%d messages in %d transactions, want 1", len(msgs), h.smtp.Attempts())
	}

	// The same key with another request: refused, nothing stored.
	_, err := h.notify.SendEmail(context.Background(), verifyEmail("identity:1", user, "tok-OTHER"))
	if status.Code(err) != codes.FailedPrecondition || rpcerr.Reason(err) != rpcerr.IdempotencyKeyReused {
		t.Fatalf("same key, other data: %v", err)
	}
	// Another producer's key "identity:1" is another email.
	conn, err := grpcservice.Dial(h.addr, authtest.Minter(t, "wallet").Credentials("notify"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	res, err := notifyv1.NewNotifyServiceClient(conn).SendEmail(context.Background(), req)
	if err != nil || !res.GetCreated() || res.GetEmailId() == ids[0] {
		t.Fatalf("wallet's equal key = %v, %v; want a new email", res, err)
	}
	h.smtp.Wait(t, 2, 30*time.Second)
}

// TestSendEmailRefusesBadRequests: a bad request is InvalidArgument with
// the field (which the producers' outbox does not retry), and only the
// producers may call.
func TestSendEmailRefusesBadRequests(t *testing.T) {
	t.Parallel()
	h := setup(t)
	user := h.identity.addUser("ada@example.com", true)
	tests := []struct {
		name  string
		req   *notifyv1.SendEmailRequest
		field string
	}{
		{"unknown template", &notifyv1.SendEmailRequest{IdempotencyKey: "k", Template: "newsletter", Recipient: &notifyv1.SendEmailRequest_ToUserId{ToUserId: user}}, "template"},
		{"no recipient", &notifyv1.SendEmailRequest{IdempotencyKey: "k", Template: "password_changed"}, "recipient"},
		{"user id not a uuid", &notifyv1.SendEmailRequest{IdempotencyKey: "k", Template: "password_changed", Recipient: &notifyv1.SendEmailRequest_ToUserId{ToUserId: "42"}}, "to_user_id"},
		{"bad address", toAddress("k", "not an address"), "to_address"},
		{"no key", toAddress("", "ops@example.com"), "idempotency_key"},
		{"key too long", toAddress(strings.Repeat("k", 256), "ops@example.com"), "idempotency_key"},
		{"missing link", &notifyv1.SendEmailRequest{IdempotencyKey: "k", Template: "verify_email", Recipient: &notifyv1.SendEmailRequest_ToUserId{ToUserId: user}}, "data.link"},
	}
	for _, tc := range tests {
		_, err := h.notify.SendEmail(context.Background(), tc.req)
		fields := rpcerr.Fields(err)
		if status.Code(err) != codes.InvalidArgument || rpcerr.Reason(err) != rpcerr.ValidationFailed || len(fields) != 1 || fields[0].Field != tc.field {
			t.Errorf("%s: %v (fields %v), want validation_failed on %s", tc.name, err, fields, tc.field)
		}
	}
	var n int
	if err := h.pool.QueryRow(context.Background(), `SELECT count(*) FROM emails`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d emails stored from bad requests (%v)", n, err)
	}

	for caller, want := range map[string]codes.Code{"gateway": codes.PermissionDenied, "workflow": codes.OK} {
		conn, err := grpcservice.Dial(h.addr, authtest.Minter(t, caller).Credentials("notify"))
		if err != nil {
			t.Fatal(err)
		}
		_, err = notifyv1.NewNotifyServiceClient(conn).SendEmail(context.Background(), toAddress(caller+":1", "ops@example.com"))
		_ = conn.Close()
		if status.Code(err) != want {
			t.Errorf("SendEmail as %s: %v, want %s", caller, err, want)
		}
	}
}

// TestRecipientIsResolvedAtSendTime: a user's address comes from identity
// when the email is sent; an unknown user's email is dropped, a disabled
// account gets security emails only.
func TestRecipientIsResolvedAtSendTime(t *testing.T) {
	t.Parallel()
	h := setup(t)
	active := h.identity.addUser("ada@example.com", true)
	disabled := h.identity.addUser("bob@example.com", false)
	h.identity.mu.Lock()
	h.identity.down = 1 // the first lookup fails: retried, not dropped
	h.identity.mu.Unlock()

	sent := h.send(t, verifyEmail("identity:1", active, "tok-a"))
	gone := h.send(t, verifyEmail("identity:2", "0196b3c0-0000-7000-8000-00000000dead", "tok-b"))
	blocked := h.send(t, verifyEmail("identity:3", disabled, "tok-c"))
	security := h.send(t, &notifyv1.SendEmailRequest{IdempotencyKey: "identity:4", Template: "password_changed",
		Recipient: &notifyv1.SendEmailRequest_ToUserId{ToUserId: disabled}})

	for id, want := range map[string]string{
		sent.GetEmailId(): "sent", gone.GetEmailId(): "dropped", blocked.GetEmailId(): "dropped", security.GetEmailId(): "sent",
	} {
		if row := h.waitEmail(t, id, final); row.Status != want {
			t.Errorf("email %s = %+v, want %s", id, row, want)
		}
	}
	if r := h.email(t, gone.GetEmailId()); r.LastError != "the user does not exist" {
		t.Errorf("unknown user's email: %+v", r)
	}
	if r := h.email(t, blocked.GetEmailId()); !strings.Contains(r.LastError, "disabled") {
		t.Errorf("disabled account's email: %+v", r)
	}
	msgs := h.smtp.Wait(t, 2, 30*time.Second)
	byTo := map[string]string{}
	for _, m := range msgs {
		byTo[strings.Join(m.To, ",")] = m.Subject
	}
	if len(msgs) != 2 || byTo["ada@example.com"] != "Verify your email address" || byTo["bob@example.com"] != "Your Meterflow password was changed" {
		t.Fatalf("messages to %v", byTo)
	}
	for _, m := range msgs {
		if m.To[0] == "ada@example.com" {
			if !strings.Contains(m.Text, "https://mf.example/app/verify-email?token=tok-a") || !strings.Contains(m.HTML, `href="https://mf.example/app/verify-email?token=tok-a"`) ||
				m.MessageID != "<"+sent.GetEmailId()+"@meterflow.local>" || m.Header.Get("From") != `"Meterflow" <no-reply@meterflow.local>` ||
				m.Header.Get("Auto-Submitted") != "auto-generated" {
				t.Errorf("verification email:\n%s", m.Raw)
			}
		}
	}
}
