package stack

import (
	"context"
	"log/slog"
	"net/mail"
	"testing"
	"time"

	"github.com/riverqueue/river/rivertype"

	notify "github.com/meterflow/meterflow/services/notify/app"
	notifymigrations "github.com/meterflow/meterflow/services/notify/migrations"
	"github.com/meterflow/meterflow/services/notify/smtptest"
)

// MailFrom is notify's MAIL_FROM in the stack.
const MailFrom = "Meterflow <no-reply@stacktest.local>"

// NotifyConfig is notify's configuration on the database at dbURL,
// sending through the SMTP server at smtpURL and looking users up with
// identity at identityAddr. Sends are retried after a fifth of a second
// (River's backoff would make tests about a failed send wait seconds).
// Webhooks reach the tests' receivers on loopback (WEBHOOK_ALLOW_PRIVATE)
// and follow StackWebhookSchedule: the production schedule's eight
// attempts, a fifth of a second apart.
func NotifyConfig(t testing.TB, dbURL, identityAddr, smtpURL string) notify.Config {
	t.Helper()
	from, err := mail.ParseAddress(MailFrom)
	if err != nil {
		t.Fatal(err)
	}
	c := notify.Config{
		Common: Common(), DatabaseURL: dbURL, IdentityAddr: identityAddr, MailFrom: from,
		SendTimeout: 10 * time.Second, RescueAfter: 30 * time.Second, Retention: notify.MinRetention,
		Workers: 4, RetryPolicy: quickRetry{}, FetchPollInterval: 100 * time.Millisecond,
		Webhooks: notify.WebhookConfig{AllowPrivate: true, Schedule: StackWebhookSchedule},
	}
	if err := c.SetSMTPURL(smtpURL); err != nil {
		t.Fatal(err)
	}
	return c
}

// StackWebhookSchedule is the retry schedule of webhooks in the stack.
var StackWebhookSchedule = []time.Duration{
	200 * time.Millisecond, 200 * time.Millisecond, 200 * time.Millisecond, 200 * time.Millisecond,
	200 * time.Millisecond, 200 * time.Millisecond, 200 * time.Millisecond,
}

// quickRetry retries a failed send after 200 ms.
type quickRetry struct{}

func (quickRetry) NextRetry(*rivertype.JobRow) time.Time {
	return time.Now().Add(200 * time.Millisecond)
}

// startNotify builds the notify service of the stack on a fresh database,
// with s.Mail, an SMTP server inside the test, as its mail server: the
// tests read every email the stack sends from s.Mail. Its webhooks reach
// loopback receivers (NotifyConfig), as under make run.
func (s *Stack) startNotify(t testing.TB, ctx context.Context, log *slog.Logger) *notify.App {
	t.Helper()
	s.Mail = smtptest.Start(t)
	url := Database(t, notifymigrations.FS, log)
	cfg := NotifyConfig(t, url, s.IdentityAddr, s.Mail.URL())
	a, err := notify.New(ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
