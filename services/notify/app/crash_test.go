package app_test

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/meterflow/meterflow/platform/callauth/authtest"
	"github.com/meterflow/meterflow/platform/database/dbtest"
	"github.com/meterflow/meterflow/platform/grpcservice"
	"github.com/meterflow/meterflow/platform/process"
	notifyv1 "github.com/meterflow/meterflow/proto/gen/meterflow/notify/v1"
	"github.com/meterflow/meterflow/services/notify/smtptest"
)

// TestStoppedMidSendIsSentOnceAfterRestart: the process stops while the
// SMTP server has not taken the message yet (the send is canceled after
// SHUTDOWN_GRACE); the next process sends it, once.
func TestStoppedMidSendIsSentOnceAfterRestart(t *testing.T) {
	t.Parallel()
	h := setup(t)
	res := h.stopMidSend(t, toAddress("identity:1", "ops@example.com"))
	if row := h.email(t, res.GetEmailId()); row.Status != "queued" || len(h.smtp.Messages()) != 0 {
		t.Fatalf("after the stop: email %+v, %d messages", row, len(h.smtp.Messages()))
	}
	h.start(t)
	row := h.waitEmail(t, res.GetEmailId(), final)
	if row.Status != "sent" || row.Attempts != 2 || !strings.Contains(row.LastError, "interrupted") {
		t.Fatalf("email = %+v, want sent at the second attempt", row)
	}
	if msgs := h.smtp.Messages(); len(msgs) != 1 {
		t.Fatalf("%d messages, want 1", len(msgs))
	}
}

// TestResendAfterAcceptKeepsTheMessageID: the SMTP server took the
// message but the process stopped before hearing so. Delivery is at
// least once, so the next process sends it again, with the same
// Message-ID: the one duplicate is recognisable as such.
func TestResendAfterAcceptKeepsTheMessageID(t *testing.T) {
	t.Parallel()
	h := setup(t)
	hold := h.smtp.HoldNext(t, smtptest.HoldAfterData)
	res := h.send(t, toAddress("identity:1", "ops@example.com"))
	<-hold.Reached()
	h.stop()
	hold.Release()
	h.start(t)
	if row := h.waitEmail(t, res.GetEmailId(), final); row.Status != "sent" {
		t.Fatalf("email = %+v", row)
	}
	msgs := h.smtp.Wait(t, 2, 30*time.Second)
	want := "<" + res.GetEmailId() + "@meterflow.local>"
	if len(msgs) != 2 || msgs[0].MessageID != want || msgs[1].MessageID != want {
		t.Fatalf("messages %d with Message-IDs %q, %q; want 2 with %s", len(msgs), msgs[0].MessageID, msgs[len(msgs)-1].MessageID, want)
	}
}

// TestKilledProcessSendsOnceAfterRestart kills the real notify binary
// with SIGKILL twice: between storing an email and sending it (the SMTP
// server is down, the send waits for a retry), and in the middle of a
// send (the SMTP server stalls before taking the message; River takes the
// job back after NOTIFY_RESCUE_AFTER). After each restart each email is
// sent exactly once.
func TestKilledProcessSendsOnceAfterRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the notify binary; waits for River's rescuer")
	}
	t.Parallel()
	smtp := smtptest.Start(t)
	identity, identityAddr := startIdentity(t)
	user := identity.addUser("ada@example.com", true)
	pool, dbURL := dbtest.New(t, nil)
	bin := filepath.Join(t.TempDir(), "notify")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/notify").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	lis := freeAddr(t)
	env := append(os.Environ(), "APP_ENV=development", "DATABASE_URL="+dbURL, "GRPC_ADDR="+lis, "METRICS_ADDR=",
		"IDENTITY_ADDR="+identityAddr, "INTERNAL_AUTH_SECRET="+authtest.Secret, "SMTP_URL="+smtp.URL(),
		"NOTIFY_SEND_TIMEOUT=2s", "NOTIFY_RESCUE_AFTER=12s", "OTEL_EXPORTER_OTLP_ENDPOINT=")
	if out, err := command(bin, env, "migrate").CombinedOutput(); err != nil {
		t.Fatalf("notify migrate: %v\n%s", err, out)
	}
	logs := &syncBuffer{}
	start := func() *exec.Cmd {
		cmd := command(bin, env)
		cmd.Stdout, cmd.Stderr = logs, logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		deadline := time.Now().Add(15 * time.Second)
		for process.CheckGRPC(context.Background(), lis) != nil {
			if time.Now().After(deadline) {
				t.Fatalf("notify did not become healthy:\n%s", logs.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
		return cmd
	}
	kill := func(cmd *exec.Cmd) {
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
	}
	conn, err := grpcservice.Dial(lis, authtest.Minter(t, "identity").Credentials("notify"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := notifyv1.NewNotifyServiceClient(conn)
	h := &harness{pool: pool, logs: logs}

	// 1. Killed between storing and sending.
	smtp.Stop()
	proc := start()
	first, err := client.SendEmail(context.Background(), verifyEmail("identity:1", user, "tok-1"))
	if err != nil {
		t.Fatal(err)
	}
	h.waitEmail(t, first.GetEmailId(), func(r emailRow) bool { return r.Attempts >= 1 })
	kill(proc)
	smtp.Restart(t)
	proc = start()
	if row := h.waitEmail(t, first.GetEmailId(), final); row.Status != "sent" {
		t.Fatalf("first email = %+v", row)
	}

	// 2. Killed in the middle of a send.
	hold := smtp.HoldNext(t, smtptest.HoldAtRcpt)
	second, err := client.SendEmail(context.Background(), verifyEmail("identity:2", user, "tok-2"))
	if err != nil {
		t.Fatal(err)
	}
	<-hold.Reached()
	kill(proc)
	hold.Release()
	start()
	if row := h.waitEmail(t, second.GetEmailId(), final); row.Status != "sent" || row.Attempts != 2 {
		t.Fatalf("second email = %+v, want sent at the second attempt", row)
	}
	msgs := smtp.Messages()
	if len(msgs) != 2 || !strings.Contains(msgs[0].Text, "tok-1") || !strings.Contains(msgs[1].Text, "tok-2") {
		t.Fatalf("%d messages, want each email once", len(msgs))
	}
}

// freeAddr returns a loopback address nothing listens on now.
func freeAddr(t testing.TB) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	_ = lis.Close()
	return addr
}

func command(bin string, env []string, args ...string) *exec.Cmd {
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	return cmd
}

// stopMidSend sends req and stops the process while the SMTP server has
// not taken the message yet (it stalls at RCPT TO; the send is canceled
// after SHUTDOWN_GRACE).
func (h *harness) stopMidSend(t testing.TB, req *notifyv1.SendEmailRequest) *notifyv1.SendEmailResponse {
	t.Helper()
	hold := h.smtp.HoldNext(t, smtptest.HoldAtRcpt)
	res := h.send(t, req)
	<-hold.Reached()
	h.stop()
	hold.Release()
	return res
}
