package app_test

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river/rivertype"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/meterflow/meterflow/platform/callauth/authtest"
	"github.com/meterflow/meterflow/platform/database/dbtest"
	"github.com/meterflow/meterflow/platform/grpcservice"
	identityv1 "github.com/meterflow/meterflow/proto/gen/meterflow/identity/v1"
	notifyv1 "github.com/meterflow/meterflow/proto/gen/meterflow/notify/v1"
	"github.com/meterflow/meterflow/services/notify/app"
	"github.com/meterflow/meterflow/services/notify/internal/mailer"
	"github.com/meterflow/meterflow/services/notify/migrations"
	"github.com/meterflow/meterflow/services/notify/smtptest"
)

// TestMain runs the package in local development: the harness takes
// notify's development defaults from ConfigFromEnv.
func TestMain(m *testing.M) {
	_ = os.Setenv("APP_ENV", "development")
	os.Exit(m.Run())
}

// syncBuffer is a log sink that tests can read while the service writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// fakeIdentity answers GetUserContact from a table, as identity would.
// It is another service, so a fake is fine here.
type fakeIdentity struct {
	identityv1.UnimplementedIdentityServiceServer
	mu       sync.Mutex
	contacts map[string]*identityv1.GetUserContactResponse
	down     int // the next calls answer Unavailable
}

func (f *fakeIdentity) GetUserContact(_ context.Context, req *identityv1.GetUserContactRequest) (*identityv1.GetUserContactResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down > 0 {
		f.down--
		return nil, status.Error(codes.Unavailable, "identity is restarting")
	}
	c, ok := f.contacts[req.GetUserId()]
	if !ok {
		return nil, status.Error(codes.NotFound, "user not found")
	}
	return c, nil
}

// addUser registers a user and returns its id.
func (f *fakeIdentity) addUser(email string, active bool) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := uuid.NewString()
	f.contacts[id] = &identityv1.GetUserContactResponse{Email: email, IsActive: active, EmailVerified: true}
	return id
}

func startIdentity(t testing.TB) (*fakeIdentity, string) {
	t.Helper()
	f := &fakeIdentity{contacts: map[string]*identityv1.GetUserContactResponse{}}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	identityv1.RegisterIdentityServiceServer(srv, f)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return f, lis.Addr().String()
}

// quickRetry retries after 100 ms: the tests are about what is sent, not
// River's backoff.
type quickRetry struct{}

func (quickRetry) NextRetry(*rivertype.JobRow) time.Time {
	return time.Now().Add(100 * time.Millisecond)
}

// harness is a real notify service on a fresh database, an in-process
// SMTP server and a fake identity.
type harness struct {
	cfg      app.Config
	pool     *pgxpool.Pool
	smtp     *smtptest.Server
	identity *fakeIdentity
	logs     *syncBuffer
	app      *app.App
	stop     func() // stops the running app (as SIGTERM would)
	// notify is a client calling as identity.
	notify notifyv1.NotifyServiceClient
	addr   string
}

func setup(t testing.TB, smtpOpts ...smtptest.Options) *harness {
	t.Helper()
	return setupWith(t, nil, smtpOpts...)
}

// setupWith is setup with a change to the configuration before the
// service starts.
func setupWith(t testing.TB, configure func(*app.Config), smtpOpts ...smtptest.Options) *harness {
	t.Helper()
	h := &harness{logs: &syncBuffer{}}
	h.smtp = smtptest.Start(t, smtpOpts...)
	var idAddr string
	h.identity, idAddr = startIdentity(t)
	var url string
	h.pool, url = dbtest.New(t, migrations.FS)
	if err := app.MigrateQueue(context.Background(), url, nil); err != nil {
		t.Fatal(err)
	}
	cfg, err := app.ConfigFromEnv()
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	cfg.DatabaseURL = url
	cfg.IdentityAddr = idAddr
	cfg.InternalAuthSecret = []byte(authtest.Secret)
	cfg.MetricsAddr = ""
	cfg.ShutdownGrace = time.Second
	cfg.SendTimeout = 10 * time.Second
	cfg.RetryPolicy = quickRetry{}
	cfg.FetchPollInterval = 100 * time.Millisecond
	cfg.SMTPRootCAs = h.smtp.RootCAs
	if cfg.SMTP, err = mailer.ParseURL(h.smtp.URL(), mailer.StartTLSOpportunistic); err != nil {
		t.Fatal(err)
	}
	if configure != nil {
		configure(&cfg)
	}
	h.cfg = cfg
	h.start(t)
	conn, err := grpcservice.Dial(h.addr, authtest.Minter(t, "identity").Credentials("notify"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	h.notify = notifyv1.NewNotifyServiceClient(conn)
	return h
}

// start runs a notify process on h's configuration and database, on the
// same address as the one before it (a restart).
func (h *harness) start(t testing.TB) {
	t.Helper()
	a, err := app.New(context.Background(), h.cfg, slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatalf("notify: %v", err)
	}
	addr := h.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	h.addr, h.app = lis.Addr().String(), a
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, lis) }()
	var once sync.Once
	h.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
			a.Close()
		})
	}
	t.Cleanup(h.stop)
}

// send calls SendEmail as identity.
func (h *harness) send(t testing.TB, req *notifyv1.SendEmailRequest) *notifyv1.SendEmailResponse {
	t.Helper()
	res, err := h.notify.SendEmail(context.Background(), req)
	if err != nil {
		t.Fatalf("SendEmail(%s): %v", req.GetTemplate(), err)
	}
	return res
}

// emailRow is an email as stored.
type emailRow struct {
	Status    string
	Attempts  int
	LastError string
	Data      string
}

func (h *harness) email(t testing.TB, id string) emailRow {
	t.Helper()
	var r emailRow
	err := h.pool.QueryRow(context.Background(),
		`SELECT status, attempts, coalesce(last_error, ''), data::text FROM emails WHERE id = $1`, id).Scan(&r.Status, &r.Attempts, &r.LastError, &r.Data)
	if err != nil {
		t.Fatalf("email %s: %v", id, err)
	}
	return r
}

// waitEmail waits until the email's row satisfies done.
func (h *harness) waitEmail(t testing.TB, id string, done func(emailRow) bool) emailRow {
	t.Helper()
	// 90 s: a send cut short by a kill comes back only when River's
	// rescuer, which runs every 30 s, finds it older than
	// NOTIFY_RESCUE_AFTER; on a loaded machine that takes over 30 s.
	deadline := time.Now().Add(90 * time.Second)
	for {
		r := h.email(t, id)
		if done(r) {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("email %s still %+v after 90 s\n%s", id, r, h.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func final(r emailRow) bool { return r.Status != "queued" }

// waitJobs waits until no send job is left to work, and returns the
// states of all of them.
func (h *harness) waitJobs(t testing.TB) []string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for h.openJobs(t) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("send jobs still open after 30 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	rows, err := h.pool.Query(context.Background(), `SELECT state::text FROM river_job WHERE kind = 'notify_send_email' ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	states, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return states
}

// openJobs counts the send jobs still to be worked.
func (h *harness) openJobs(t testing.TB) int {
	t.Helper()
	var n int
	if err := h.pool.QueryRow(context.Background(),
		`SELECT count(*) FROM river_job WHERE kind = 'notify_send_email' AND state NOT IN ('completed', 'cancelled', 'discarded')`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// verifyEmail is a verify_email request to user.
func verifyEmail(key, user, token string) *notifyv1.SendEmailRequest {
	return &notifyv1.SendEmailRequest{
		IdempotencyKey: key, Template: "verify_email",
		Recipient: &notifyv1.SendEmailRequest_ToUserId{ToUserId: user},
		Data:      map[string]string{"link": "https://mf.example/app/verify-email?token=" + token, "expires_in": "48 hours"},
	}
}

// toAddress is a password_changed request to a literal address.
func toAddress(key, address string) *notifyv1.SendEmailRequest {
	return &notifyv1.SendEmailRequest{
		IdempotencyKey: key, Template: "password_changed",
		Recipient: &notifyv1.SendEmailRequest_ToAddress{ToAddress: address},
		Data:      map[string]string{"changed_at": "2026-11-26T14:03:00Z"},
	}
}
