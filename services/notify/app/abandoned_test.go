package app_test

import (
	"context"
	"strings"
	"testing"
)

// TestCutShortLastAttemptFailsTheEmail: the process working an email's
// last attempt stops mid-send, and River's rescuer, with no attempt left,
// discards the job (emulated here: waiting for fifteen real attempts and
// the rescuer would take many minutes). Without a job the email would stay
// queued for ever; the next process marks it failed with a reason that
// says the outcome is unknown, counts it and empties the backlog gauge.
func TestCutShortLastAttemptFailsTheEmail(t *testing.T) {
	t.Parallel()
	h := setup(t)
	res := h.stopMidSend(t, toAddress("identity:1", "ops@example.com"))
	if _, err := h.pool.Exec(context.Background(), `UPDATE river_job SET state = 'discarded', attempt = max_attempts, finalized_at = now()
		WHERE kind = 'notify_send_email' AND args->>'email_id' = $1`, res.GetEmailId()); err != nil {
		t.Fatal(err)
	}
	if row := h.email(t, res.GetEmailId()); row.Status != "queued" {
		t.Fatalf("before the restart: email %+v, want queued", row)
	}

	h.start(t)
	row := h.waitEmail(t, res.GetEmailId(), final)
	if row.Status != "failed" || !strings.Contains(row.LastError, "ended without a result") || !strings.Contains(row.LastError, "unknown") || row.Data != "{}" {
		t.Fatalf("email = %+v, want failed with the reason and its data erased", row)
	}
	if msgs := h.smtp.Messages(); len(msgs) != 0 {
		t.Errorf("%d messages sent, want none (the job was given up)", len(msgs))
	}
	if m := series(t, h.app.Registry, "notify_emails_total", map[string]string{"template": "password_changed", "status": "failed"}); m == nil || value(m) != 1 {
		t.Errorf("notify_emails_total{password_changed,failed} = %v, want 1", m)
	}
	if m := series(t, h.app.Registry, "notify_emails_queued", nil); m == nil || value(m) != 0 {
		t.Errorf("notify_emails_queued = %v, want 0", m)
	}
	if !strings.Contains(h.logs.String(), "email failed") {
		t.Errorf("no error logged for the failed email:\n%s", h.logs.String())
	}
}
