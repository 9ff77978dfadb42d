package console_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/meterflow/meterflow/gateway/console"
	identityv1 "github.com/meterflow/meterflow/proto/gen/meterflow/identity/v1"
)

// clock is a console clock that moves forward only when told to.
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

// sessionID returns the session id a login response set.
func sessionID(t testing.TB, p page) string {
	t.Helper()
	line := sessionCookie(p.Header)
	if line == "" {
		t.Fatalf("no session cookie (status %d): %s", p.Status, p.Body)
	}
	return strings.TrimPrefix(strings.SplitN(line, ";", 2)[0], console.SessionCookie+"=")
}

// refreshWorks reports whether identity still accepts tok (rotating it if so).
func (b *bundle) refreshWorks(t testing.TB, tok string) bool {
	t.Helper()
	_, err := b.identity.Refresh(context.Background(), &identityv1.RefreshRequest{RefreshToken: tok})
	if err != nil && status.Code(err) != codes.Unauthenticated {
		t.Fatalf("refresh: %v", err)
	}
	return err == nil
}

// wantEnded fails unless p sends the browser to the login page.
func wantEnded(t testing.TB, p page) {
	t.Helper()
	if p.Status != http.StatusSeeOther || !strings.Contains(p.Header.Get("Location"), "/admin/login") {
		t.Fatalf("want a redirect to the login page, got %d %v", p.Status, p.Header)
	}
}

// TestSessions checks how console sessions are kept and ended, on one
// stack (starting one costs seconds) with a console whose clock the
// subtests move forward; they run one after the other.
func TestSessions(t *testing.T) {
	t.Parallel()
	clk := &clock{}
	b := setup(t, console.Config{LoginPerMinute: 1000, SessionTTL: 2 * time.Hour, IdleTimeout: 30 * time.Minute, Now: clk.Now})
	for _, tc := range []struct {
		name string
		run  func(*testing.T, *bundle, *clock)
	}{
		{"Redis holds no token in clear text", sealedAtRest},
		{"the refresh token lives no longer than the session", loginRefreshLifetime},
		{"an idle session ends and its refresh token is revoked", idleSessionEnds},
		{"an expired session ends and its refresh token is revoked", expiredSessionEnds},
		{"a clear-text session of an older version is revoked", clearTextSessionIsRevoked},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, b, clk) })
	}
}

// sealedAtRest: what Redis holds for a console login shows no
// token, CSRF token, email or session id; the console still reads it.
func sealedAtRest(t *testing.T, b *bundle, _ *clock) {
	br := b.newBrowser()
	sid := sessionID(t, br.login(b.admin, adminPassword))
	if p := br.get("/users"); p.Status != http.StatusOK {
		t.Fatalf("a sealed session does not serve pages: %d", p.Status)
	}
	s, err := b.console.LoadSession(context.Background(), sid)
	if err != nil {
		t.Fatal(err)
	}
	secrets := map[string]string{"access token": s.Access, "refresh token": s.Refresh, "CSRF token": s.CSRF, "email": b.admin, "session id": sid}
	ctx := context.Background()
	keys, err := b.redis.Keys(ctx, b.console.KeyPrefix()+"*").Result()
	if err != nil || len(keys) == 0 {
		t.Fatalf("console keys in Redis: %v, %v", keys, err)
	}
	for _, key := range keys {
		stored := []string{key}
		switch typ := b.redis.Type(ctx, key).Val(); typ {
		case "hash":
			for f, v := range b.redis.HGetAll(ctx, key).Val() {
				stored = append(stored, f, v)
			}
		case "string":
			stored = append(stored, b.redis.Get(ctx, key).Val())
		default:
			t.Fatalf("%s: unexpected type %s", key, typ)
		}
		for _, v := range stored {
			for what, secret := range secrets {
				if strings.Contains(v, secret) {
					t.Errorf("Redis key %s holds the %s in clear text", key, what)
				}
			}
			if strings.Contains(v, `"refresh"`) || strings.Contains(v, "eyJ") {
				t.Errorf("Redis key %s holds readable session JSON or a JWT", key)
			}
		}
	}
}

// idleSessionEnds: a login unused for CONSOLE_IDLE_TIMEOUT is refused
// when next seen and its refresh token revoked; use keeps it alive.
func idleSessionEnds(t *testing.T, b *bundle, clk *clock) {
	br := b.newBrowser()
	sid := sessionID(t, br.login(b.admin, adminPassword))
	for range 3 { // 87 minutes of use, never 30 idle
		clk.Advance(29 * time.Minute)
		if p := br.get("/users"); p.Status != http.StatusOK {
			t.Fatalf("an active session was refused: %d", p.Status)
		}
	}
	s, err := b.console.LoadSession(context.Background(), sid)
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(30 * time.Minute)
	wantEnded(t, br.get("/users"))
	if b.refreshWorks(t, s.Refresh) {
		t.Fatal("the idle session's refresh token still works")
	}
	if _, err := b.console.LoadSession(context.Background(), sid); err == nil {
		t.Fatal("the idle session is still stored")
	}
}

// expiredSessionEnds: past CONSOLE_SESSION_TTL the session is refused
// and its refresh token revoked, however active it was.
func expiredSessionEnds(t *testing.T, b *bundle, clk *clock) {
	br := b.newBrowser()
	sid := sessionID(t, br.login(b.admin, adminPassword))
	for range 4 {
		clk.Advance(25 * time.Minute)
		if p := br.get("/"); p.Status != http.StatusOK {
			t.Fatalf("an active session was refused: %d", p.Status)
		}
	}
	s, err := b.console.LoadSession(context.Background(), sid)
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(21 * time.Minute) // 121 minutes after the login, 21 idle
	wantEnded(t, br.get("/"))
	if b.refreshWorks(t, s.Refresh) {
		t.Fatal("the expired session's refresh token still works")
	}
}

// loginRefreshLifetime: the console's login asks identity for a
// refresh token that lives no longer than the session (not identity's
// 30 days).
func loginRefreshLifetime(t *testing.T, b *bundle, _ *clock) {
	br := b.newBrowser()
	before := time.Now()
	sid := sessionID(t, br.login(b.admin, adminPassword))
	s, err := b.console.LoadSession(context.Background(), sid)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(context.Background(), b.stack.IdentityConfig.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	hash := sha256.Sum256([]byte(s.Refresh)) // identity stores refresh tokens as SHA-256
	var expires time.Time
	if err := conn.QueryRow(context.Background(), "SELECT expires_at FROM refresh_tokens WHERE token_hash = $1", hash[:]).Scan(&expires); err != nil {
		t.Fatal(err)
	}
	// identity's clock is real, the console's is the test's (ahead by now).
	if expires.Before(before.Add(2*time.Hour-time.Minute)) || expires.After(time.Now().Add(2*time.Hour)) || expires.After(s.Expires) {
		t.Fatalf("refresh token expires %s, session %s: want the session's 2 h", expires, s.Expires)
	}
}

// clearTextSessionIsRevoked: a session an older version stored in
// clear text is not accepted; its refresh token is revoked when it is
// next seen, so an upgrade leaves no readable token usable.
func clearTextSessionIsRevoked(t *testing.T, b *bundle, _ *clock) {
	resp, err := b.identity.Login(context.Background(), &identityv1.LoginRequest{Email: b.admin, Password: adminPassword})
	if err != nil {
		t.Fatal(err)
	}
	sid := "legacy-session-id-0123456789abcdef0123456789abcdef"
	raw, _ := json.Marshal(map[string]any{
		"user_id": b.adminID, "email": b.admin, "access": resp.GetTokens().GetAccessToken(), "refresh": resp.GetTokens().GetRefreshToken(),
		"access_exp": b.console.Now().Add(10 * time.Minute), "csrf": "x", "expires": b.console.Now().Add(time.Hour),
	})
	h := sha256.Sum256([]byte(sid))
	key := b.console.KeyPrefix() + "session:" + hex.EncodeToString(h[:])
	if err := b.redis.Set(context.Background(), key, raw, time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	br := b.newBrowser()
	u, _ := url.Parse(b.url)
	br.Client.Jar.SetCookies(u, []*http.Cookie{{Name: console.SessionCookie, Value: sid, Path: "/admin"}})
	if p := br.get("/users"); p.Status != http.StatusSeeOther {
		t.Fatalf("a clear-text session was accepted: %d", p.Status)
	}
	if b.refreshWorks(t, resp.GetTokens().GetRefreshToken()) {
		t.Fatal("the clear-text session's refresh token still works")
	}
	if n := b.redis.Exists(context.Background(), key).Val(); n != 0 {
		t.Fatal("the clear-text session is still in Redis")
	}
}
