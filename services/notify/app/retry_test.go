package app_test

import (
	"strings"
	"testing"
	"time"

	"github.com/meterflow/meterflow/services/notify/smtptest"
)

// TestTemporaryRefusalsAreRetried: 4xx replies, at RCPT TO and at the
// end of DATA, are retried until the server takes the email, once.
func TestTemporaryRefusalsAreRetried(t *testing.T) {
	t.Parallel()
	h := setup(t)
	h.smtp.Refuse(1, 451, true)
	h.smtp.Refuse(1, 452, false)
	res := h.send(t, toAddress("identity:1", "ops@example.com"))
	row := h.waitEmail(t, res.GetEmailId(), final)
	if row.Status != "sent" || row.Attempts != 3 || !strings.Contains(row.LastError, "smtp 452") {
		t.Fatalf("email = %+v, want sent at the third attempt after a 452", row)
	}
	if msgs := h.smtp.Messages(); len(msgs) != 1 || h.smtp.Attempts() != 3 {
		t.Fatalf("%d messages in %d transactions, want 1 in 3", len(msgs), h.smtp.Attempts())
	}
}

// TestSMTPServerDownIsRetried: while the server is down the email waits
// (retried with backoff); once it is back, the email goes out once.
func TestSMTPServerDownIsRetried(t *testing.T) {
	t.Parallel()
	h := setup(t)
	h.smtp.Stop()
	res := h.send(t, toAddress("identity:1", "ops@example.com"))
	row := h.waitEmail(t, res.GetEmailId(), func(r emailRow) bool { return r.Attempts >= 2 })
	if row.Status != "queued" || !strings.Contains(row.LastError, "connection refused") {
		t.Fatalf("email while the server is down = %+v", row)
	}
	h.smtp.Restart(t)
	if row := h.waitEmail(t, res.GetEmailId(), final); row.Status != "sent" {
		t.Fatalf("email = %+v", row)
	}
	if msgs := h.smtp.Messages(); len(msgs) != 1 {
		t.Fatalf("%d messages, want 1", len(msgs))
	}
}

// TestPermanentRefusalFails: a 5xx for the recipient fails the email at
// once, with the server's reply kept; it is not retried.
func TestPermanentRefusalFails(t *testing.T) {
	t.Parallel()
	h := setup(t)
	h.smtp.Refuse(1, 550, true)
	res := h.send(t, toAddress("identity:1", "nobody@example.com"))
	row := h.waitEmail(t, res.GetEmailId(), final)
	if row.Status != "failed" || row.Attempts != 1 || !strings.Contains(row.LastError, "smtp 550") || row.Data != "{}" {
		t.Fatalf("email = %+v, want failed after one attempt with the 550", row)
	}
	if states := h.waitJobs(t); len(states) != 1 || states[0] != "cancelled" {
		t.Fatalf("job states %v, want cancelled", states)
	}
	if h.smtp.Attempts() != 1 || len(h.smtp.Messages()) != 0 {
		t.Fatalf("%d transactions, %d messages", h.smtp.Attempts(), len(h.smtp.Messages()))
	}
}

// TestTLSAndAuthentication: smtps:// and smtp:// with STARTTLS required,
// both with a password; a wrong password is retried, not a failure of
// the email (an operator fixes the configuration, then it goes out).
func TestTLSAndAuthentication(t *testing.T) {
	t.Parallel()
	for _, opts := range []smtptest.Options{
		{ImplicitTLS: true, Username: "mailer", Password: "p@ss:w/rd"},
		{StartTLS: true, Username: "mailer", Password: "p@ss:w/rd"},
	} {
		h := setup(t, opts)
		res := h.send(t, toAddress("identity:1", "ops@example.com"))
		if row := h.waitEmail(t, res.GetEmailId(), final); row.Status != "sent" {
			t.Fatalf("%+v: email %+v\n%s", opts, row, h.logs.String())
		}
		h.smtp.Wait(t, 1, 30*time.Second)
	}

	h := setup(t, smtptest.Options{ImplicitTLS: true, Username: "mailer", Password: "right"})
	h.stop()
	h.cfg.SMTP.Password = "wrong"
	h.start(t)
	res := h.send(t, toAddress("identity:1", "ops@example.com"))
	row := h.waitEmail(t, res.GetEmailId(), func(r emailRow) bool { return r.Attempts >= 2 })
	if row.Status != "queued" || !strings.Contains(row.LastError, "smtp 535") {
		t.Fatalf("email with a wrong password = %+v", row)
	}
}
