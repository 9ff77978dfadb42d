//go:build drills

package drills

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	e2e "github.com/meterflow/meterflow/e2e/stack"
	"github.com/meterflow/meterflow/platform/callauth"
	"github.com/meterflow/meterflow/platform/database/dbtest"
	"github.com/meterflow/meterflow/platform/grpcservice"
	notifyv1 "github.com/meterflow/meterflow/proto/gen/meterflow/notify/v1"
	identity "github.com/meterflow/meterflow/services/identity/app"
	notify "github.com/meterflow/meterflow/services/notify/app"
	"github.com/meterflow/meterflow/services/notify/smtptest"
)

// Notify's send knobs in the drills: a send is cut after 2 s, and River
// takes back the send of a killed process 12 s after it began (its
// rescuer looks every 30 s), so a drill waits well under a minute.
const (
	notifySendTimeout = 2 * time.Second
	notifyRescueAfter = 12 * time.Second
)

// notifyRig is notify as a process (the binary, SIGKILLed and restarted),
// identity in process for its lookups, and an SMTP server in the test.
type notifyRig struct {
	proc   *e2e.Proc
	mail   *smtptest.Server
	db     *pgxpool.Pool
	client notifyv1.NotifyServiceClient
	users  []string
}

func startNotifyRig(t *testing.T, users int) *notifyRig {
	t.Helper()
	l := e2e.NewLifetime(t)
	ctx := l.Ctx
	r := &notifyRig{mail: smtptest.Start(t)}

	addr := freeAddr(t) // notify's
	_, idCfg, idAddr := e2e.StartIdentity(t, l, logger(), func(c *identity.Config) { c.NotifyAddr = addr })
	for i := range users {
		res, err := identity.CreateAdmin(ctx, idCfg, fmt.Sprintf("user-%d-%s@example.com", i, e2e.RandomHex()), "drill-password-1")
		if err != nil {
			t.Fatal(err)
		}
		r.users = append(r.users, res.UserID)
	}

	var dbURL string
	r.db, dbURL = dbtest.New(t, nil)
	if err := notify.Migrate(ctx, dbURL, logger()); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := e2e.Build(dir, "notify"); err != nil {
		t.Fatal(err)
	}
	r.proc = &e2e.Proc{
		Name: "notify", Addr: addr, Bin: filepath.Join(dir, "notify"), LogPath: filepath.Join(dir, "notify.log"),
		Ready: e2e.GRPCServing(addr), DieWithParent: true,
		Env: []string{
			"APP_ENV=development", "LOG_LEVEL=info", "INTERNAL_AUTH_SECRET=" + secret,
			"GRPC_ADDR=" + addr, "METRICS_ADDR=", "DATABASE_URL=" + dbURL, "IDENTITY_ADDR=" + idAddr,
			"SMTP_URL=" + r.mail.URL(), "MAIL_FROM=" + e2e.MailFrom, "SHUTDOWN_GRACE=2s",
			"NOTIFY_SEND_TIMEOUT=" + notifySendTimeout.String(), "NOTIFY_RESCUE_AFTER=" + notifyRescueAfter.String(),
		},
	}
	t.Cleanup(func() {
		r.proc.Kill()
		if t.Failed() {
			t.Logf("notify logs (last 4 KiB):\n%s", e2e.Tail(r.proc.LogPath, 4096))
		}
	})
	if err := r.proc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	minter, err := callauth.NewMinter("identity", []byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpcservice.Dial(addr, minter.Credentials("notify"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	r.client = notifyv1.NewNotifyServiceClient(conn)
	return r
}

// hand gives notify an email the way a producer's outbox does: the same
// key again after any failure, until notify has stored it; it returns the
// email's id.
func (r *notifyRig) hand(ctx context.Context, key, user, token string) (string, error) {
	req := &notifyv1.SendEmailRequest{
		IdempotencyKey: key, Template: "verify_email",
		Recipient: &notifyv1.SendEmailRequest_ToUserId{ToUserId: user},
		Data:      map[string]string{"link": "https://drills.example/app/verify-email?token=" + token},
	}
	for {
		cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		res, err := r.client.SendEmail(cctx, req)
		cancel()
		if err == nil {
			return res.GetEmailId(), nil
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("email %s never stored: %w", key, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitSent waits until every email is sent.
func (r *notifyRig) waitSent(t *testing.T, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		var open, sent, other int
		if err := r.db.QueryRow(context.Background(), `SELECT count(*) FILTER (WHERE status = 'queued'),
			count(*) FILTER (WHERE status = 'sent'), count(*) FILTER (WHERE status NOT IN ('queued', 'sent')) FROM emails`).Scan(&open, &sent, &other); err != nil {
			t.Fatal(err)
		}
		if other > 0 {
			t.Fatalf("%d emails failed or were dropped", other)
		}
		if open == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d emails still queued after %s (%d sent)", open, within, sent)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestNotifyKilledMidSend SIGKILLs notify while the SMTP server holds the
// email's transaction open (RCPT TO not answered yet): after the restart,
// River takes the send back and the email goes out once.
func TestNotifyKilledMidSend(t *testing.T) {
	r := startNotifyRig(t, 1)
	hold := r.mail.HoldNext(t, smtptest.HoldAtRcpt)
	id, err := r.hand(context.Background(), "identity:mid-send", r.users[0], "tok-mid-send")
	if err != nil {
		t.Fatal(err)
	}
	<-hold.Reached()
	r.proc.Kill()
	hold.Release()
	restart(t, r.proc)
	r.waitSent(t, 90*time.Second)
	msgs := r.mail.Messages()
	if len(msgs) != 1 || msgs[0].MessageID != "<"+id+"@stacktest.local>" {
		t.Fatalf("%d messages (%v), want the email once", len(msgs), msgs)
	}
	var attempts int
	if err := r.db.QueryRow(context.Background(), `SELECT attempts FROM emails WHERE id = $1`, id).Scan(&attempts); err != nil || attempts != 2 {
		t.Fatalf("attempts = %d (%v), want 2: the killed one and the one after the rescue", attempts, err)
	}
	t.Logf("DRILL notify mid-send kill: sent once after the restart")
}

// TestNotifyCrashDrill hands notify emails from several producers for 20 s
// while it is SIGKILLed every one to three seconds and the SMTP server
// refuses a transaction now and then with a 451: every email is stored once per key, and
// sent; an email goes out twice only when the kill fell between the SMTP
// server taking it and notify recording it, and then with the same
// Message-ID.
func TestNotifyCrashDrill(t *testing.T) {
	r := startNotifyRig(t, 3)
	const producers, duration = 4, 20 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	end := time.Now().Add(duration)

	stop := make(chan struct{})
	var chaos sync.WaitGroup
	chaos.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Duration(1000+rand.IntN(2000)) * time.Millisecond):
			}
			if rand.IntN(2) == 0 {
				r.mail.Refuse(1, 451, rand.IntN(2) == 0)
			}
			r.proc.Kill()
			time.Sleep(time.Duration(100+rand.IntN(700)) * time.Millisecond)
			restart(t, r.proc)
		}
	})
	var mu sync.Mutex
	ids := map[string]string{} // key -> email id
	var wg sync.WaitGroup
	for p := range producers {
		wg.Go(func() {
			for i := 0; time.Now().Before(end); i++ {
				key := fmt.Sprintf("identity:drill-%d-%d", p, i)
				id, err := r.hand(ctx, key, r.users[(p+i)%len(r.users)], key)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				ids[key] = id
				mu.Unlock()
				time.Sleep(time.Duration(200+rand.IntN(400)) * time.Millisecond)
			}
		})
	}
	wg.Wait()
	close(stop)
	chaos.Wait()
	if r.proc.Exited() {
		restart(t, r.proc)
	}
	r.waitSent(t, 2*time.Minute)

	var stored int
	if err := r.db.QueryRow(context.Background(), `SELECT count(*) FROM emails`).Scan(&stored); err != nil || len(ids) != stored {
		t.Fatalf("%d emails stored for %d keys (%v)", stored, len(ids), err)
	}
	byMessageID := map[string]int{}
	for _, m := range r.mail.Messages() {
		byMessageID[m.MessageID]++
	}
	duplicates := 0
	for key, id := range ids {
		n := byMessageID["<"+id+"@stacktest.local>"]
		if n == 0 {
			t.Errorf("email %s (%s) never reached the SMTP server", id, key)
		}
		duplicates += max(0, n-1)
	}
	if len(byMessageID) != len(ids) {
		t.Errorf("%d distinct Message-IDs for %d emails", len(byMessageID), len(ids))
	}
	if duplicates > r.proc.Kills() {
		t.Errorf("%d duplicates after %d kills: a resend not caused by a kill", duplicates, r.proc.Kills())
	}
	t.Logf("DRILL notify crash: %d emails, %d SIGKILLs, %d SMTP transactions, %d duplicate sends (same Message-ID)",
		len(ids), r.proc.Kills(), r.mail.Attempts(), duplicates)
}
