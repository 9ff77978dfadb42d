package console_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"

	"github.com/meterflow/meterflow/e2e/stack"
	"github.com/meterflow/meterflow/gateway/console"
	"github.com/meterflow/meterflow/gateway/webtest"
	"github.com/meterflow/meterflow/platform/callauth"
	"github.com/meterflow/meterflow/platform/grpcservice"
	identityv1 "github.com/meterflow/meterflow/proto/gen/meterflow/identity/v1"
	notifyv1 "github.com/meterflow/meterflow/proto/gen/meterflow/notify/v1"
	walletv1 "github.com/meterflow/meterflow/proto/gen/meterflow/wallet/v1"
	workflowv1 "github.com/meterflow/meterflow/proto/gen/meterflow/workflow/v1"
	identity "github.com/meterflow/meterflow/services/identity/app"
)

const adminPassword = "admin-password-1"

// bundle is the whole stack plus a console served on its own loopback port.
type bundle struct {
	t        testing.TB
	stack    *stack.Stack
	console  *console.Console
	app      *fiber.App
	url      string // the console's base URL, e.g. http://127.0.0.1:1234/admin
	identity identityv1.IdentityServiceClient
	wallet   walletv1.WalletServiceClient
	workflow workflowv1.WorkflowServiceClient
	redis    *redis.Client
	admin    string // the admin's email
	adminID  string
}

func randomHex() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// setup starts the stack, creates an admin and serves a console with cfg.
func setup(t testing.TB, cfg console.Config) *bundle {
	t.Helper()
	st := stack.Start(t, stack.Options{})
	minter, err := callauth.NewMinter("gateway", []byte(stack.Secret))
	if err != nil {
		t.Fatal(err)
	}
	dial := func(addr, name string) *grpc.ClientConn {
		conn, err := grpcservice.Dial(addr, minter.Credentials(name))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conn.Close() })
		return conn
	}
	b := &bundle{t: t, stack: st}
	b.identity = identityv1.NewIdentityServiceClient(dial(st.IdentityAddr, "identity"))
	b.wallet = walletv1.NewWalletServiceClient(dial(st.WalletAddr, "wallet"))
	b.workflow = workflowv1.NewWorkflowServiceClient(dial(st.WorkflowAddr, "workflow"))

	redisURL := os.Getenv("TEST_REDIS_URL")
	if redisURL == "" {
		redisURL = "redis://127.0.0.1:6379/0"
	}
	ropts, err := redis.ParseURL(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	b.redis = redis.NewClient(ropts)
	t.Cleanup(func() { _ = b.redis.Close() })

	b.admin = "ops-" + randomHex() + "@example.com"
	u, err := identity.CreateAdmin(context.Background(), st.IdentityConfig, b.admin, adminPassword)
	if err != nil {
		t.Fatal(err)
	}
	b.adminID = u.UserID

	if cfg.KeyPrefix == "" {
		cfg.KeyPrefix = "consoletest:" + randomHex() + ":"
	}
	if cfg.SessionKey == nil {
		cfg.SessionKey = testKey(t)
	}
	c, err := console.New(cfg, console.Deps{
		Identity: b.identity, Wallet: b.wallet, Workflow: b.workflow,
		Webhooks: notifyv1.NewWebhookServiceClient(dial(st.NotifyAddr, "notify")),
		Users:    callauth.AccessVerifier{Keys: callauth.NewRemoteKeySet(b.identity), Issuer: "meterflow-identity", Audience: "meterflow-api"},
		Redis:    b.redis,
	})
	if err != nil {
		t.Fatal(err)
	}
	b.console = c
	b.app = fiber.New(fiber.Config{DisableStartupMessage: true})
	c.Register(b.app.Group("/admin"))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = b.app.Listener(lis) }()
	t.Cleanup(func() { _ = b.app.ShutdownWithTimeout(2 * time.Second) })
	b.url = "http://" + lis.Addr().String() + "/admin"
	return b
}

// signUp creates a plain user through the public API and returns its id.
func (b *bundle) signUp(email string) string {
	b.t.Helper()
	_, _, id := b.stack.Signup(b.t, email, "user-password-1")
	return id
}

// browser is webtest's, with the shortcuts the console's tests use.
type browser struct{ *webtest.Browser }

func (b *bundle) newBrowser() *browser { return &browser{webtest.New(b.t, b.url)} }

// page is a response with its body read.
type page = webtest.Page

func (br *browser) get(path string) page { return br.Get(path) }

func (br *browser) post(path string, form url.Values) page { return br.Post(path, form) }

// csrf returns the CSRF token of the first form on p.
func csrf(t testing.TB, p page) string { return webtest.CSRF(t, p) }

// login signs in through the login form and returns the login response.
func (br *browser) login(email, password string) page { return br.Login(email, password) }

// mustLogin signs in as the admin and returns the overview page.
func (br *browser) mustLogin(email string) page {
	br.T.Helper()
	r := br.login(email, adminPassword)
	if r.Status != http.StatusSeeOther {
		br.T.Fatalf("login: status %d: %s", r.Status, r.Body)
	}
	p := br.get("/")
	if p.Status != http.StatusOK {
		br.T.Fatalf("overview after login: %d: %s", p.Status, p.Body)
	}
	return p
}

// sessionCookie returns the Set-Cookie line of the session cookie in h.
func sessionCookie(h http.Header) string {
	for _, line := range h.Values("Set-Cookie") {
		if strings.HasPrefix(line, console.SessionCookie+"=") {
			return line
		}
	}
	return ""
}

// testKey is a fresh SESSION_ENCRYPTION_KEY.
func testKey(t testing.TB) []byte {
	t.Helper()
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

// The header rows of the CSV exports, as a spreadsheet user sees them.
const (
	transactionsHeader = "id,created_at,user_id,kind,amount_cents,amount,balance_after_cents,description,reference_type,reference_id"
	runsHeader         = "id,created_at,user_id,workflow,status,fee_cents,charged_cents,http_status,duration_ms,started_at,finished_at,error,input_json,output_json,api_key_id"
)

// dollars is how the console shows a non-negative amount: $1,234.50.
func dollars(cents int64) string {
	d := strconv.FormatInt(cents/100, 10)
	for i := len(d) - 3; i > 0; i -= 3 {
		d = d[:i] + "," + d[i:]
	}
	return fmt.Sprintf("$%s.%02d", d, cents%100)
}
