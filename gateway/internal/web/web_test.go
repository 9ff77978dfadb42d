package web_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/meterflow/meterflow/gateway/internal/web"
	"github.com/meterflow/meterflow/gateway/webtest"
	"github.com/meterflow/meterflow/platform/callauth/authtest"
	"github.com/meterflow/meterflow/platform/rpcerr"
	identityv1 "github.com/meterflow/meterflow/proto/gen/meterflow/identity/v1"
)

// identity stands in for the identity service: it signs users in with
// tokens of test keys and keeps which refresh tokens are live, so a test
// can see what a site revoked.
type identity struct {
	identityv1.IdentityServiceClient
	t     testing.TB
	keys  *authtest.Keys
	users map[string]user // by email

	mu   sync.Mutex
	live map[string]bool // refresh tokens not revoked
}

type user struct {
	id, password string
	admin        bool
}

func (f *identity) Login(_ context.Context, req *identityv1.LoginRequest, _ ...grpc.CallOption) (*identityv1.LoginResponse, error) {
	u, ok := f.users[req.GetEmail()]
	if !ok || u.password != req.GetPassword() {
		return nil, rpcerr.New(codes.Unauthenticated, rpcerr.InvalidCredentials, "wrong email or password")
	}
	refresh := token()
	f.mu.Lock()
	f.live[refresh] = true
	f.mu.Unlock()
	return &identityv1.LoginResponse{
		User:   &identityv1.User{Id: u.id, Email: req.GetEmail(), IsAdmin: u.admin, IsActive: true},
		Tokens: &identityv1.TokenPair{AccessToken: f.keys.AccessToken(f.t, u.id, u.admin), RefreshToken: refresh, ExpiresIn: 900},
	}, nil
}

func (f *identity) Logout(_ context.Context, req *identityv1.LogoutRequest, _ ...grpc.CallOption) (*identityv1.LogoutResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.live, req.GetRefreshToken())
	return &identityv1.LogoutResponse{}, nil
}

// liveLogins counts the refresh tokens not revoked.
func (f *identity) liveLogins() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.live)
}

func token() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// pages are a site's own templates: a home page, a page that fails with
// the error its query names, and the header's navigation.
var pages = fstest.MapFS{
	"home.html": {Data: []byte(`{{define "content"}}<h1>Hello {{$.Me}}</h1>{{end}}`)},
	"_nav.html": {Data: []byte(`{{define "nav"}}<nav class="main"><a href="{{.Base}}/">Home</a></nav>{{end}}`)},
}

// failures are the errors /fail?err= returns from a page handler.
var failures = map[string]error{
	"deadline":   status.Error(codes.DeadlineExceeded, "the wallet was slow"),
	"down":       status.Error(codes.Unavailable, "connection refused"),
	"throttled":  rpcerr.Throttled("slow down", 3*time.Second),
	"size":       status.Error(codes.ResourceExhausted, "grpc: received message larger than max (5242880 vs. 4194304)"),
	"notfound":   rpcerr.New(codes.NotFound, rpcerr.NotFound, "run not found"),
	"validation": rpcerr.Validation("bad input", rpcerr.FieldViolation{Field: "amount_cents", Message: "must be at most 1000000 cents either way"}),
	"internal":   status.Error(codes.Internal, "pq: relation users does not exist"),
	"plain":      context.DeadlineExceeded,
}

// stack serves two sites from the same parts on one app: an admins-only
// one at /admin and one for every user at /app.
type stack struct {
	identity *identity
	url      string
}

func start(t *testing.T) *stack {
	t.Helper()
	redisURL := os.Getenv("TEST_REDIS_URL")
	if redisURL == "" {
		redisURL = "redis://127.0.0.1:6379/0"
	}
	ropts, err := redis.ParseURL(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(ropts)
	t.Cleanup(func() { _ = rdb.Close() })
	keys := authtest.NewKeys(t)
	id := &identity{t: t, keys: keys, live: map[string]bool{}, users: map[string]user{
		"ada@example.com":  {id: "00000000-0000-4000-8000-000000000001", password: "ada-password", admin: true},
		"bert@example.com": {id: "00000000-0000-4000-8000-000000000002", password: "bert-password"},
	}}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	for _, site := range []web.Site{
		{ID: "admin", Name: "Admin", DefaultPath: "/admin", SessionCookie: "t_admin", LoginCookie: "t_admin_login", RequireAdmin: true, Refused: "Admins only.", Home: "home", Pages: pages},
		{ID: "app", Name: "App", DefaultPath: "/app", SessionCookie: "t_app", LoginCookie: "t_app_login", Home: "home", Pages: pages},
	} {
		srv, err := web.New(site, web.Config{CookieSecure: true, KeyPrefix: "webtest:" + token() + ":", SessionKey: key}, web.Deps{Identity: id, Users: keys.Verifier(), Redis: rdb})
		if err != nil {
			t.Fatal(err)
		}
		g := app.Group(site.DefaultPath)
		srv.Mount(g)
		g.Get("/", srv.Page(func(x *fiber.Ctx, s *web.Session) error { return srv.Render(x, s, 200, "home", "Home", "", nil) }))
		g.Get("/fail", srv.Page(func(x *fiber.Ctx, _ *web.Session) error { return failures[x.Query("err")] }))
		g.Use(srv.NotFound())
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = app.Listener(lis) }()
	t.Cleanup(func() { _ = app.ShutdownWithTimeout(2 * time.Second) })
	return &stack{identity: id, url: "http://" + lis.Addr().String()}
}

func (s *stack) browser(t *testing.T, site string) *webtest.Browser {
	return webtest.New(t, s.url+site)
}

// TestSitesFromTheSameParts: two sites built from web's parts keep their
// sessions apart by cookie name and path, and admit whom their Site says.
func TestSitesFromTheSameParts(t *testing.T) {
	t.Parallel()
	st := start(t)

	br := st.browser(t, "/app")
	in := br.Login("bert@example.com", "bert-password")
	if in.Status != http.StatusSeeOther || in.Header.Get("Location") != "/app/" {
		t.Fatalf("login at /app: %d %v %s", in.Status, in.Header, in.Body)
	}
	cookie := strings.ToLower(in.Header.Get("Set-Cookie"))
	for _, want := range []string{"t_app=", "path=/app;", "httponly", "samesite=strict", "secure"} {
		if !strings.Contains(cookie, want) {
			t.Errorf("session cookie lacks %s: %s", want, cookie)
		}
	}
	home := br.Get("/")
	if home.Status != 200 || !strings.Contains(home.Body, "Hello bert@example.com") || !strings.Contains(home.Body, `<a class="brand" href="/app/">App</a>`) ||
		!strings.Contains(home.Body, `href="/app/static/site.css"`) || home.Header.Get("Content-Security-Policy") != web.CSP {
		t.Fatalf("home of /app: %d %v %s", home.Status, home.Header, home.Body)
	}
	// The /app session is nothing to /admin, in the same browser.
	same := &webtest.Browser{T: t, Base: st.url + "/admin", Client: br.Client}
	if p := same.Get("/"); p.Status != http.StatusSeeOther || !strings.HasPrefix(p.Header.Get("Location"), "/admin/login") {
		t.Fatalf("/admin with an /app session: %d %v", p.Status, p.Header)
	}

	// /admin refuses a user who is not an admin, and ends that login.
	before := st.identity.liveLogins()
	refused := st.browser(t, "/admin").Login("bert@example.com", "bert-password")
	if refused.Status != http.StatusForbidden || !strings.Contains(refused.Body, "Admins only.") || strings.Contains(strings.Join(refused.Header.Values("Set-Cookie"), ""), "t_admin=") {
		t.Fatalf("non-admin at /admin: %d %s", refused.Status, refused.Body)
	}
	if got := st.identity.liveLogins(); got != before {
		t.Fatalf("the refused login was not revoked: %d live logins, want %d", got, before)
	}
	if p := st.browser(t, "/admin").Login("ada@example.com", "ada-password"); p.Status != http.StatusSeeOther {
		t.Fatalf("admin at /admin: %d %s", p.Status, p.Body)
	}

	// Logout needs the session's CSRF token; then the login is revoked.
	if p := br.Post("/logout", url.Values{"csrf": {"forged"}}); p.Status != http.StatusForbidden {
		t.Fatalf("logout with a forged token: %d", p.Status)
	}
	before = st.identity.liveLogins()
	out := br.Post("/logout", url.Values{"csrf": {webtest.CSRF(t, home)}})
	if out.Status != http.StatusSeeOther || out.Header.Get("Location") != "/app/login?out=1" {
		t.Fatalf("logout: %d %v", out.Status, out.Header)
	}
	if got := st.identity.liveLogins(); got != before-1 {
		t.Fatalf("logout left %d live logins, want %d", got, before-1)
	}
	if p := br.Get("/"); p.Status != http.StatusSeeOther {
		t.Fatalf("/app after logout: %d", p.Status)
	}
}

// TestErrorPages: a page's error is shown with the status, title and
// message of the gateway's one error table, as the API answers it. The
// console's own mapping answered a DeadlineExceeded with 503 where the API
// answered 504.
func TestErrorPages(t *testing.T) {
	t.Parallel()
	st := start(t)
	br := st.browser(t, "/app")
	if p := br.Login("bert@example.com", "bert-password"); p.Status != http.StatusSeeOther {
		t.Fatalf("login: %d %s", p.Status, p.Body)
	}
	tests := []struct {
		err    string
		status int
		title  string
		shows  string
	}{
		{"deadline", 504, "Upstream timeout", "A backend service did not answer in time."},
		{"plain", 504, "Upstream timeout", "A backend service did not answer in time."},
		{"down", 503, "Service unavailable", "A backend service is unavailable; retry later."},
		{"throttled", 429, "Too many requests", "slow down"},
		{"size", 500, "Internal server error", "An internal error occurred."},
		{"internal", 500, "Internal server error", "An internal error occurred."},
		{"notfound", 404, "Not found", "run not found"},
		{"validation", 400, "Validation failed", "amount_cents: must be at most 1000000 cents either way"},
	}
	for _, tt := range tests {
		p := br.Get("/fail?err=" + tt.err)
		if p.Status != tt.status || !strings.Contains(p.Body, "<h1>"+tt.title+"</h1>") || !strings.Contains(p.Body, tt.shows) || !strings.Contains(p.Body, "Error "+strconv.Itoa(tt.status)) {
			t.Errorf("%s: %d, want %d %q showing %q:\n%s", tt.err, p.Status, tt.status, tt.title, tt.shows, p.Body)
		}
		for _, secret := range []string{"pq:", "larger than max", "the wallet was slow", "connection refused"} {
			if strings.Contains(p.Body, secret) {
				t.Errorf("%s: the page shows the internal message %q", tt.err, secret)
			}
		}
	}
	if p := br.Get("/no-such-page"); p.Status != 404 || !strings.Contains(p.Body, "There is nothing at this address") {
		t.Errorf("unknown page: %d %s", p.Status, p.Body)
	}
}

// TestPagesParsedOnFirstUse: New does not parse the templates (an idle
// gateway does not hold them); ParsePages, like the first page shown,
// parses them and reports a broken one.
func TestPagesParsedOnFirstUse(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"}) // never dialed here
	t.Cleanup(func() { _ = rdb.Close() })
	for _, tc := range []struct {
		name    string
		pages   fstest.MapFS
		wantErr bool
	}{
		{"valid", pages, false},
		{"broken", fstest.MapFS{"home.html": {Data: []byte(`{{define "content"}}{{.Data{{end}}`)}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv, err := web.New(web.Site{ID: "app", Name: "App", DefaultPath: "/app", SessionCookie: "t_app", LoginCookie: "t_app_login", Home: "home", Pages: tc.pages},
				web.Config{SessionKey: web.DevSessionKey()}, web.Deps{Identity: &identity{t: t}, Users: authtest.NewKeys(t).Verifier(), Redis: rdb})
			if err != nil {
				t.Fatalf("New: %v (templates are parsed later)", err)
			}
			if err := srv.ParsePages(); (err != nil) != tc.wantErr {
				t.Fatalf("ParsePages: %v, want error %v", err, tc.wantErr)
			}
		})
	}
}
