package app_test

import (
	"strings"
	"testing"
	"time"

	notifyv1 "github.com/meterflow/meterflow/proto/gen/meterflow/notify/v1"
	"github.com/meterflow/meterflow/services/notify/smtptest"
)

// TestNoSecretInLogs: every log line of a send that failed, was retried
// and went out (the service's and River's) names the template and the
// email id, never the link's token, the link, the recipient or the SMTP
// password; and the token leaves no trace in the database once sent.
func TestNoSecretInLogs(t *testing.T) {
	t.Parallel()
	const token, password = "tok-9f2c4e61-SECRET", "smtp-pw-77a1-SECRET"
	h := setup(t, smtptest.Options{ImplicitTLS: true, Username: "mailer", Password: password})
	user := h.identity.addUser("ada.secret@example.com", true)
	h.identity.mu.Lock()
	h.identity.down = 1
	h.identity.mu.Unlock()
	h.smtp.Refuse(1, 451, true)
	res := h.send(t, &notifyv1.SendEmailRequest{
		IdempotencyKey: "identity:1", Template: "password_reset",
		Recipient: &notifyv1.SendEmailRequest_ToUserId{ToUserId: user},
		Data:      map[string]string{"link": "https://mf.example/app/reset-password?token=" + token, "email": "ada.secret@example.com"},
	})
	row := h.waitEmail(t, res.GetEmailId(), final)
	msgs := h.smtp.Wait(t, 1, 30*time.Second)
	if row.Status != "sent" || row.Attempts != 3 || !strings.Contains(msgs[0].Text, token) {
		t.Fatalf("email %+v; the test must send the token", row)
	}
	h.waitJobs(t)
	h.stop()

	logs := h.logs.String()
	for _, secret := range []string{token, "reset-password?", password, "ada.secret"} {
		if strings.Contains(logs, secret) {
			t.Errorf("the logs hold %q:\n%s", secret, logs)
		}
	}
	for _, want := range []string{`"msg":"email sent"`, `"msg":"email not sent; will retry"`, `"email_id":"` + res.GetEmailId() + `"`, `"template":"password_reset"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("the logs lack %s:\n%s", want, logs)
		}
	}
	var stored int
	if err := h.pool.QueryRow(t.Context(), `SELECT count(*) FROM emails WHERE data::text LIKE '%' || $1 || '%'`, token).Scan(&stored); err != nil || stored != 0 {
		t.Errorf("the token is still stored in %d email(s) (%v)", stored, err)
	}
	if err := h.pool.QueryRow(t.Context(), `SELECT count(*) FROM river_job WHERE args::text LIKE '%' || $1 || '%'`, token).Scan(&stored); err != nil || stored != 0 {
		t.Errorf("the token is in %d River job(s) (%v)", stored, err)
	}
}
