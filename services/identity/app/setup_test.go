package app_test

import (
	"context"
	"crypto/ed25519"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/meterflow/meterflow/platform/callauth"
	"github.com/meterflow/meterflow/platform/callauth/authtest"
	"github.com/meterflow/meterflow/platform/database/dbtest"
	"github.com/meterflow/meterflow/platform/envconfig"
	"github.com/meterflow/meterflow/platform/grpcservice"
	"github.com/meterflow/meterflow/platform/rpcerr"
	identityv1 "github.com/meterflow/meterflow/proto/gen/meterflow/identity/v1"
	"github.com/meterflow/meterflow/services/identity/app"
	"github.com/meterflow/meterflow/services/identity/migrations"
)

// fastArgon2 keeps the many hashes of the tests cheap; the production
// default is measured by BenchmarkLogin.
var fastArgon2 = app.Argon2Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1}

const password = "correct horse battery"

// clock is a test clock that only moves forward when told to.
type clock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

// bundle is one identity service on its own database, served on
// 127.0.0.1:0 with the production interceptors, and a gateway client.
type bundle struct {
	t      testing.TB
	cfg    app.Config
	app    *app.App
	pool   *pgxpool.Pool
	clock  *clock
	client identityv1.IdentityServiceClient
	addr   string
	// notify is what the outbox delivered.
	notify *notifySink
}

// setup starts a service on a fresh database.
func setup(t testing.TB) *bundle {
	t.Helper()
	pool, url := dbtest.New(t, migrations.FS)
	return startOn(t, pool, url, nil, fastArgon2)
}

// startOn starts a service on an existing database with key (nil:
// ephemeral); opts change the configuration before it starts.
func startOn(t testing.TB, pool *pgxpool.Pool, url string, key ed25519.PrivateKey, argon app.Argon2Params, opts ...func(*app.Config)) *bundle {
	t.Helper()
	clk := &clock{}
	if err := app.MigrateJobs(context.Background(), url, nil); err != nil {
		t.Fatal(err)
	}
	sink := &notifySink{}
	cfg := app.Config{
		Notify:          sink,
		PublicBaseURL:   "https://meterflow.test",
		Common:          envconfig.Common{Env: "development", InternalAuthSecret: []byte(authtest.Secret), JWTIssuer: authtest.Issuer, JWTAudience: authtest.Audience, ShutdownGrace: time.Second},
		DatabaseURL:     url,
		AccessTokenTTL:  15 * time.Minute,
		RefreshTokenTTL: 720 * time.Hour,
		SigningKey:      key,
		Argon2:          argon,
		Now:             clk.Now,
	}
	for _, o := range opts {
		o(&cfg)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg, log)
	if err != nil {
		cancel()
		t.Fatalf("app.New: %v", err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, lis) }()
	conn, err := grpcservice.Dial(lis.Addr().String(), authtest.Minter(t, "gateway").Credentials(app.Service))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = conn.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		a.Close()
	})
	return &bundle{t: t, cfg: cfg, app: a, pool: pool, clock: clk, client: identityv1.NewIdentityServiceClient(conn), addr: lis.Addr().String(), notify: sink}
}

// signUp creates a user and returns the response.
func (b *bundle) signUp(email string) *identityv1.SignUpResponse {
	b.t.Helper()
	resp, err := b.client.SignUp(context.Background(), &identityv1.SignUpRequest{Email: email, Password: password})
	if err != nil {
		b.t.Fatalf("SignUp(%s): %v", email, err)
	}
	return resp
}

// admin creates an admin through the create-admin path and logs in.
func (b *bundle) admin(email string) (*identityv1.User, string) {
	b.t.Helper()
	if _, err := app.CreateAdmin(context.Background(), b.cfg, email, password); err != nil {
		b.t.Fatalf("CreateAdmin: %v", err)
	}
	resp, err := b.client.Login(context.Background(), &identityv1.LoginRequest{Email: email, Password: password})
	if err != nil {
		b.t.Fatalf("Login(%s): %v", email, err)
	}
	return resp.GetUser(), resp.GetTokens().GetAccessToken()
}

// as returns a context whose calls carry the user's access token.
func as(token string) context.Context {
	return callauth.WithUserToken(context.Background(), token)
}

// wantErr fails unless err has code and reason.
func wantErr(t testing.TB, err error, code codes.Code, reason string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got success, want %s/%s", code, reason)
	}
	if got := status.Code(err); got != code {
		t.Fatalf("code = %s, want %s (err %v)", got, code, err)
	}
	if got := rpcerr.Reason(err); got != reason {
		t.Fatalf("reason = %q, want %q (err %v)", got, reason, err)
	}
}

// verifier verifies access tokens as the gateway does: keys fetched with
// GetSigningKeys.
func (b *bundle) verifier() callauth.AccessVerifier {
	return callauth.AccessVerifier{Keys: callauth.NewRemoteKeySet(b.client), Issuer: authtest.Issuer, Audience: authtest.Audience}
}
