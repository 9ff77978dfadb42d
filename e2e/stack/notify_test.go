package stack

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/meterflow/meterflow/platform/callauth"
	"github.com/meterflow/meterflow/platform/grpcservice"
	notifyv1 "github.com/meterflow/meterflow/proto/gen/meterflow/notify/v1"
	"github.com/meterflow/meterflow/services/notify/smtptest"
	"github.com/meterflow/meterflow/services/wallet/stripeevents"
)

// sendAs calls notify's SendEmail as service caller would (its outbox),
// inside the trace of ctx.
func (s *Stack) sendAs(t *testing.T, ctx context.Context, caller string, req *notifyv1.SendEmailRequest) *notifyv1.SendEmailResponse {
	t.Helper()
	minter, err := callauth.NewMinter(caller, []byte(Secret))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpcservice.Dial(s.NotifyAddr, minter.Credentials("notify"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	res, err := notifyv1.NewNotifyServiceClient(conn).SendEmail(ctx, req)
	if err != nil {
		t.Fatalf("SendEmail as %s: %v", caller, err)
	}
	return res
}

// emailsTo returns the messages of template to address the stack's mail
// server has accepted, in the order notify stored them (their Message-IDs
// are its time-ordered email ids).
func (s *Stack) emailsTo(template, address string) []smtptest.Message {
	var found []smtptest.Message
	for _, m := range s.Mail.Messages() {
		if len(m.To) == 1 && m.To[0] == address && m.Header.Get("X-Meterflow-Template") == template {
			found = append(found, m)
		}
	}
	slices.SortStableFunc(found, func(a, b smtptest.Message) int { return strings.Compare(a.MessageID, b.MessageID) })
	return found
}

// email waits for the n-th email (1-based) of template to address.
func (s *Stack) email(t *testing.T, template, address string, n int) smtptest.Message {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if found := s.emailsTo(template, address); len(found) >= n {
			return found[n-1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s email #%d to %s after 30s (%d messages in all)", template, n, address, len(s.Mail.Messages()))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// mailTo waits for the one email of template to address, failing when
// there is more than one.
func (s *Stack) mailTo(t *testing.T, address, template string) smtptest.Message {
	t.Helper()
	m := s.email(t, template, address, 1)
	if found := s.emailsTo(template, address); len(found) > 1 {
		t.Fatalf("%d %s emails to %s, want one", len(found), template, address)
	}
	return m
}

// linkPattern finds an emailed link that carries a token.
var linkPattern = regexp.MustCompile(`https?://\S+\?token=[A-Za-z0-9_-]+`)

// linkIn returns the link an email's plain text carries.
func linkIn(t *testing.T, m smtptest.Message) string {
	t.Helper()
	link := linkPattern.FindString(m.Text)
	if link == "" {
		t.Fatalf("no link in the %s email:\n%s", m.Header.Get("X-Meterflow-Template"), m.Text)
	}
	return link
}

// TestEmailIsOneTraceToTheMailServer: an email handed to notify as
// identity's outbox hands it (a service token, the trace of the request
// that caused it) reaches the stack's mail server once, at the address the
// real identity has for the user, and its trace runs from the caller
// through notify's send job, the lookup in identity and the SMTP send. No
// span and no log line carries the link's token.
func TestEmailIsOneTraceToTheMailServer(t *testing.T) {
	t.Parallel()
	exp := recordSpans(t)
	sink := &logSink{}
	s := Start(t, Options{LogWriter: sink})
	address := "mail-" + RandomHex() + "@example.com"
	_, _, userID := s.Signup(t, address, "mail-password-1")

	_, tid, parent := traceparent()
	ctx := trace.ContextWithRemoteSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: tid, SpanID: parent, TraceFlags: trace.FlagsSampled, Remote: true}))
	token := "reset-token-" + RandomHex()
	req := &notifyv1.SendEmailRequest{
		IdempotencyKey: "identity:stack-" + RandomHex(), Template: "password_reset",
		Recipient: &notifyv1.SendEmailRequest_ToUserId{ToUserId: userID},
		Data:      map[string]string{"link": s.URL + "/app/reset-password?token=" + token, "expires_in": "30 minutes"},
	}
	res := s.sendAs(t, ctx, "identity", req)
	if again := s.sendAs(t, context.Background(), "identity", req); again.GetEmailId() != res.GetEmailId() || again.GetCreated() {
		t.Fatalf("the outbox's retry of the same key = %v, want the first email", again)
	}
	m := s.mailTo(t, address, "password_reset")
	if !strings.Contains(m.Text, "token="+token) || m.MessageID != "<"+res.GetEmailId()+"@stacktest.local>" || m.Subject != "Reset your Meterflow password" {
		t.Fatalf("email:\n%s", m.Raw)
	}

	const (
		sendEmail = "meterflow.notify.v1.NotifyService/SendEmail"
		contact   = "meterflow.identity.v1.IdentityService/GetUserContact"
	)
	server, client := trace.SpanKindServer, trace.SpanKindClient
	tr := awaitTrace(t, exp, tid, parent, func(tr spanTree) bool {
		return serversEnded(sendEmail, contact)(tr) && has(tr, "smtp send", client) && has(tr, "notify.Deliver", trace.SpanKindInternal)
	})
	t.Logf("email trace:\n%s", tr)
	root := assertOneTrace(t, tr, parent)
	call, ok := tr.child(root.SpanContext.SpanID(), sendEmail, server, time.Time{})
	if root.Name != sendEmail || root.SpanKind != client || !ok {
		t.Fatalf("the trace does not start with the SendEmail call:\n%s", tr)
	}
	deliver, ok := tr.child(call.SpanContext.SpanID(), "notify.Deliver", trace.SpanKindInternal, time.Time{})
	if !ok {
		t.Fatalf("the send job does not continue the SendEmail call's trace:\n%s", tr)
	}
	lookup, okLookup := tr.child(deliver.SpanContext.SpanID(), contact, client, time.Time{})
	_, okSMTP := tr.child(deliver.SpanContext.SpanID(), "smtp send", client, lookup.EndTime)
	if !okLookup || !okSMTP {
		t.Fatalf("the send does not look the user up in identity, then talk SMTP:\n%s", tr)
	}
	if _, ok := tr.child(lookup.SpanContext.SpanID(), contact, server, time.Time{}); !ok {
		t.Fatalf("identity's side of the lookup is not in the trace:\n%s", tr)
	}
	assertNoLeak(t, tr, token, address)
	for _, line := range sink.lines() {
		if strings.Contains(line, token) {
			t.Errorf("a log line holds the link's token: %s", line)
		}
	}
}

// has reports whether the trace holds a span of that name and kind.
func has(tr spanTree, name string, kind trace.SpanKind) bool {
	for _, s := range tr.spans {
		if s.Name == name && s.SpanKind == kind {
			return true
		}
	}
	return false
}

// TestSignupEmailIsOneTrace: a sign-up's verification email is part of
// the sign-up's trace, from the gateway's HTTP span through identity, its
// outbox's call to notify, notify's send job and the lookup in identity to
// the SMTP send; no span carries the link's token or the address.
func TestSignupEmailIsOneTrace(t *testing.T) {
	t.Parallel()
	exp := recordSpans(t)
	s := Start(t, Options{})
	header, tid, parent := traceparent()
	address := "traced-" + RandomHex() + "@example.com"
	if r := s.Do(t, Request{Method: "POST", Path: "/v1/auth/signup", Headers: map[string]string{"traceparent": header},
		Body: map[string]string{"email": address, "password": "traced-password-1"}}); r.Status != 201 {
		t.Fatalf("signup: %d %s", r.Status, r.Body)
	}
	_, token := pathOf(t, linkIn(t, s.mailTo(t, address, "verify_email")), "/app/verify-email")

	tr := awaitTrace(t, exp, tid, parent, func(tr spanTree) bool {
		return serversEnded("POST /v1/auth/signup", "meterflow.notify.v1.NotifyService/SendEmail")(tr) &&
			has(tr, "smtp send", trace.SpanKindClient)
	})
	t.Logf("sign-up trace:\n%s", tr)
	root := assertOneTrace(t, tr, parent)
	if root.Name != "POST /v1/auth/signup" {
		t.Fatalf("the trace starts with %s", root.Name)
	}
	parentOf := map[trace.SpanID]trace.SpanID{}
	var smtp trace.SpanID
	for _, sp := range tr.spans {
		parentOf[sp.SpanContext.SpanID()] = sp.Parent.SpanID()
		if sp.Name == "smtp send" {
			smtp = sp.SpanContext.SpanID()
		}
	}
	var path []string
	names := map[trace.SpanID]string{}
	for _, sp := range tr.spans {
		names[sp.SpanContext.SpanID()] = sp.Name
	}
	for id := smtp; id != root.SpanContext.SpanID(); id = parentOf[id] {
		if _, ok := names[id]; !ok {
			t.Fatalf("the SMTP send does not hang from the sign-up (path %v):\n%s", path, tr)
		}
		path = append(path, names[id])
	}
	for _, want := range []string{"notify.Deliver", "meterflow.notify.v1.NotifyService/SendEmail"} {
		if !slices.Contains(path, want) {
			t.Errorf("%s is not between the sign-up and the SMTP send: %v", want, path)
		}
	}
	assertNoLeak(t, tr, token, address)
}

// TestWalletEmailsReachTheMailServer: the wallet's emails go through its
// outbox and notify to the user's address: the receipt of a paid top-up,
// and the low-balance warning when a run's fee takes the available
// balance below the user's threshold. So the fields the wallet sends are
// the ones notify's templates take.
func TestWalletEmailsReachTheMailServer(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{RunsPerMinute: 100})
	address := "wallet-mail-" + RandomHex() + "@example.com"
	tok, _, userID := s.Signup(t, address, "wallet-mail-password")

	r := s.Do(t, Request{Method: "POST", Path: "/v1/wallet/topups", Token: tok, Body: map[string]any{"amount_cents": 1500},
		Headers: map[string]string{"Idempotency-Key": "mail-topup"}})
	if r.Status != 201 {
		t.Fatalf("topup: %d %s", r.Status, r.Body)
	}
	top := r.JSON(t)
	event := stripeevents.CheckoutSessionEvent("", "checkout.session.completed", stripeevents.Session{
		ID: top["checkout_session_id"].(string), TopUpID: top["id"].(string), UserID: userID, AmountTotal: 1500,
		Currency: "usd", PaymentStatus: "paid", PaymentIntentID: "pi_mail_1",
	})
	if r := s.Do(t, Request{Method: "POST", Path: "/v1/webhooks/stripe", Body: event,
		Headers: map[string]string{"Stripe-Signature": stripeevents.Sign(event, WebhookSecret, time.Now())}}); r.Status != 200 {
		t.Fatalf("webhook: %d %s", r.Status, r.Body)
	}
	receipt := s.mailTo(t, address, "topup_receipt")
	if !strings.Contains(receipt.Subject, "15.00 USD") || !strings.Contains(receipt.Text, top["id"].(string)) {
		t.Fatalf("receipt:\n%s\n%s", receipt.Subject, receipt.Text)
	}

	if r := s.Do(t, Request{Method: "PATCH", Path: "/v1/wallet/settings", Token: tok, Body: map[string]any{"low_balance_threshold_cents": 1450}}); r.Status != 200 {
		t.Fatalf("threshold: %d %s", r.Status, r.Body)
	}
	rc := newReceiver(t)
	if r := s.Do(t, Request{Method: "POST", Path: "/v1/admin/workflows", Token: s.Admin(t), Body: map[string]any{
		"slug": "mail-fee", "name": "Fee", "webhook_url": rc.URL + "/webhook/fee", "fee_cents": 100, "timeout_ms": 5000,
	}}); r.Status != 201 {
		t.Fatalf("workflow: %d %s", r.Status, r.Body)
	}
	if r := s.Do(t, Request{Method: "POST", Path: "/v1/workflows/mail-fee/runs", Token: tok, Body: map[string]any{"input": map[string]any{}}}); r.Status != 200 {
		t.Fatalf("run: %d %s", r.Status, r.Body)
	}
	low := s.mailTo(t, address, "low_balance")
	if !strings.Contains(low.Text, "14.00 USD") || !strings.Contains(low.Text, "14.50 USD") || !strings.Contains(low.Text, "/app/topup") {
		t.Fatalf("low balance email:\n%s", low.Text)
	}
}
