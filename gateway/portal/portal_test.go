package portal_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/meterflow/meterflow/gateway/internal/web"
	"github.com/meterflow/meterflow/gateway/portal"
	"github.com/meterflow/meterflow/gateway/webtest"
	"github.com/meterflow/meterflow/platform/callauth/authtest"
	"github.com/meterflow/meterflow/platform/rpcerr"
	"github.com/meterflow/meterflow/platform/validation"
	identityv1 "github.com/meterflow/meterflow/proto/gen/meterflow/identity/v1"
	walletv1 "github.com/meterflow/meterflow/proto/gen/meterflow/wallet/v1"
	workflowv1 "github.com/meterflow/meterflow/proto/gen/meterflow/workflow/v1"
)

// linkIdentity stands in for identity's two link methods: the token
// "good" works once; a password under 8 characters is refused as identity
// refuses it.
type linkIdentity struct {
	identityv1.IdentityServiceClient
	mu        sync.Mutex
	used      map[string]bool
	calls     int
	passwords []string
}

func (l *linkIdentity) use(token string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls++
	if token != "good" || l.used[token] {
		return rpcerr.New(codes.InvalidArgument, rpcerr.InvalidToken, "the link is invalid, used or expired; ask for a new one")
	}
	l.used[token] = true
	return nil
}

func (l *linkIdentity) VerifyEmail(_ context.Context, in *identityv1.VerifyEmailRequest, _ ...grpc.CallOption) (*identityv1.VerifyEmailResponse, error) {
	return &identityv1.VerifyEmailResponse{}, l.use(in.GetToken())
}

func (l *linkIdentity) ConfirmPasswordReset(_ context.Context, in *identityv1.ConfirmPasswordResetRequest, _ ...grpc.CallOption) (*identityv1.ConfirmPasswordResetResponse, error) {
	if len(in.GetPassword()) < 8 {
		return nil, rpcerr.FromError(validation.Field("password", "must be 8 to 128 characters long"), "")
	}
	if err := l.use(in.GetToken()); err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.passwords = append(l.passwords, in.GetPassword())
	l.mu.Unlock()
	return &identityv1.ConfirmPasswordResetResponse{}, nil
}

// start serves the portal at /app and returns a browser on it.
func start(t *testing.T) (*webtest.Browser, *linkIdentity) {
	t.Helper()
	u := os.Getenv("TEST_REDIS_URL")
	if u == "" {
		u = "redis://127.0.0.1:6379/0"
	}
	ropts, err := redis.ParseURL(u)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(ropts)
	t.Cleanup(func() { _ = rdb.Close() })
	id := &linkIdentity{used: map[string]bool{}}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	// The link pages call identity only; the other services are never reached.
	p, err := portal.New(web.Config{KeyPrefix: "portaltest:" + hex.EncodeToString(b) + ":", SessionKey: web.DevSessionKey()}, portal.Options{}, portal.Deps{
		Identity: id, Redis: rdb, Users: authtest.NewKeys(t).Verifier(),
		Wallet: struct{ walletv1.WalletServiceClient }{}, Workflow: struct {
			workflowv1.WorkflowServiceClient
		}{},
	})
	if err != nil {
		t.Fatal(err)
	}
	// Templates are parsed on the first page shown; every page must parse.
	if err := p.ParsePages(); err != nil {
		t.Fatal(err)
	}
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	p.Register(app.Group("/app"))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = app.Listener(lis) }()
	t.Cleanup(func() { _ = app.ShutdownWithTimeout(2 * time.Second) })
	return webtest.New(t, "http://"+lis.Addr().String()+"/app"), id
}

func want(t *testing.T, p webtest.Page, status int, text string) {
	t.Helper()
	if p.Status != status || !strings.Contains(p.Body, text) {
		t.Fatalf("status %d, want %d with %q: %s", p.Status, status, text, p.Body)
	}
}

// TestVerifyEmailPage: the link opens a form (the token is not used by
// opening it); posting it verifies once; a used link says so; no script,
// a strict CSP, and a form without its CSRF token changes nothing.
func TestVerifyEmailPage(t *testing.T) {
	t.Parallel()
	br, id := start(t)
	form := br.Get("/verify-email?token=good")
	want(t, form, http.StatusOK, `name="token" value="good"`)
	if strings.Contains(form.Body, "<script") || !strings.Contains(form.Header.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Fatalf("page has a script or lacks the CSP: %v", form.Header)
	}
	if id.calls != 0 {
		t.Fatal("opening the link used the token")
	}
	want(t, br.Post("/verify-email", url.Values{"token": {"good"}, "csrf": {"forged"}}), http.StatusForbidden, "The form expired")
	if id.calls != 0 {
		t.Fatal("a forged form reached identity")
	}
	csrf := webtest.CSRF(t, form)
	want(t, br.Post("/verify-email", url.Values{"token": {"good"}, "csrf": {csrf}}), http.StatusOK, "Email verified")
	want(t, br.Post("/verify-email", url.Values{"token": {"good"}, "csrf": {csrf}}), http.StatusBadRequest, "This link is invalid, used or expired")
	want(t, br.Get("/verify-email"), http.StatusOK, "needs the link from your verification email")
}

// TestResetPasswordPage: the link opens a form for the new password
// (twice); mismatched or refused passwords show the form again with the
// reason; the right one changes it once.
func TestResetPasswordPage(t *testing.T) {
	t.Parallel()
	br, id := start(t)
	form := br.Get("/reset-password?token=good")
	want(t, form, http.StatusOK, `autocomplete="new-password"`)
	csrf := webtest.CSRF(t, form)
	post := func(pw, confirm string) webtest.Page {
		return br.Post("/reset-password", url.Values{"token": {"good"}, "csrf": {csrf}, "password": {pw}, "confirm": {confirm}})
	}
	want(t, post("a new password", "another one"), http.StatusBadRequest, "The two passwords differ")
	want(t, post("short", "short"), http.StatusBadRequest, "The password must be 8 to 128 characters long.")
	want(t, post("a new password", "a new password"), http.StatusOK, "Password changed")
	want(t, post("a new password", "a new password"), http.StatusBadRequest, "This link is invalid, used or expired")
	if len(id.passwords) != 1 || id.passwords[0] != "a new password" {
		t.Fatalf("passwords set: %v, want the one", id.passwords)
	}
	want(t, br.Post("/reset-password", url.Values{"token": {"good"}, "password": {"x"}, "confirm": {"x"}}), http.StatusForbidden, "The form expired")
}
