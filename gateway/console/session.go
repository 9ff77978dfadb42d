package console

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/redis/go-redis/v9"
)

// Cookie names. The session cookie holds only a random id; everything else
// stays in Redis. The pre-session cookie carries the login form's CSRF token.
const (
	SessionCookie = "mf_admin"
	LoginCookie   = "mf_admin_login"
)

// refreshAhead is how long before its expiry an access token is renewed, so
// a page's several calls never race the expiry.
const refreshAhead = 60 * time.Second

// errNoSession means the request has no live session.
var errNoSession = errors.New("no session")

// session is one admin login, stored server-side.
type session struct {
	id string

	UserID    string    `json:"user_id"`
	Email     string    `json:"email"`
	Access    string    `json:"access"`
	Refresh   string    `json:"refresh"`
	AccessExp time.Time `json:"access_exp"`
	CSRF      string    `json:"csrf"`
	Expires   time.Time `json:"expires"`
	// Flash is a one-time notice shown on the next page.
	Flash string `json:"flash,omitempty"`
}

// randomToken returns 256 random bits, URL-safe.
func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go ≥ 1.24)
	return base64.RawURLEncoding.EncodeToString(b)
}

// equalTokens compares secrets in constant time.
func equalTokens(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// sessionKey hashes the id so that reading Redis does not hand out live
// session cookies.
func (c *Console) sessionKey(id string) string {
	h := sha256.Sum256([]byte(id))
	return c.cfg.KeyPrefix + "session:" + hex.EncodeToString(h[:])
}

func (c *Console) refreshLockKey(id string) string {
	return c.sessionKey(id) + ":refresh"
}

// saveSession writes s with the time it has left to live.
func (c *Console) saveSession(ctx context.Context, s *session) error {
	ttl := s.Expires.Sub(c.cfg.Now())
	if ttl <= 0 {
		return errNoSession
	}
	raw, err := json.Marshal(s)
	if err != nil {
		return err
	}
	if err := c.d.Redis.Set(ctx, c.sessionKey(s.id), raw, ttl).Err(); err != nil {
		return fmt.Errorf("save session: %w", err)
	}
	return nil
}

// loadSession returns the live session of id, or errNoSession.
func (c *Console) loadSession(ctx context.Context, id string) (*session, error) {
	if id == "" {
		return nil, errNoSession
	}
	raw, err := c.d.Redis.Get(ctx, c.sessionKey(id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, errNoSession
	}
	if err != nil {
		return nil, fmt.Errorf("load session: %w", err)
	}
	var s session
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, errNoSession
	}
	if !c.cfg.Now().Before(s.Expires) {
		return nil, errNoSession
	}
	s.id = id
	return &s, nil
}

func (c *Console) deleteSession(ctx context.Context, id string) error {
	return c.d.Redis.Del(ctx, c.sessionKey(id)).Err()
}

// setCookie sets one of the console's cookies: HttpOnly, SameSite=Strict,
// scoped to the console's path, Secure as configured. maxAge < 0 deletes it.
func (c *Console) setCookie(x *fiber.Ctx, name, value string, maxAge time.Duration) {
	ck := &fiber.Cookie{
		Name: name, Value: value, Path: c.base,
		HTTPOnly: true, Secure: c.cfg.CookieSecure, SameSite: fiber.CookieSameSiteStrictMode,
	}
	if maxAge < 0 {
		ck.Value = ""
		ck.MaxAge = -1
		ck.Expires = time.Unix(1, 0)
	} else {
		ck.MaxAge = int(maxAge.Seconds())
	}
	x.Cookie(ck)
}

// freshAccess returns s with an access token valid for a while, renewing
// it through identity when it is about to expire. Two requests of the same
// session may race here; a Redis lock lets one rotate the refresh token
// (identity revokes a login whose rotated token is reused) while the other
// waits for the result.
func (c *Console) freshAccess(ctx context.Context, s *session) (*session, error) {
	if c.cfg.Now().Add(refreshAhead).Before(s.AccessExp) {
		return s, nil
	}
	lock := c.refreshLockKey(s.id)
	ok, err := c.d.Redis.SetNX(ctx, lock, "1", 10*time.Second).Result()
	if err != nil {
		return nil, fmt.Errorf("refresh lock: %w", err)
	}
	if !ok {
		for range 50 {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
			again, err := c.loadSession(ctx, s.id)
			if err != nil {
				return nil, err
			}
			if again.Refresh != s.Refresh {
				return again, nil
			}
		}
		return nil, errNoSession
	}
	defer c.d.Redis.Del(context.WithoutCancel(ctx), lock)
	// The session may have been refreshed between our read and the lock.
	if again, err := c.loadSession(ctx, s.id); err != nil {
		return nil, err
	} else if again.Refresh != s.Refresh {
		return again, nil
	}
	resp, err := c.d.Identity.Refresh(ctx, refreshRequest(s.Refresh))
	if err != nil {
		if isAuthError(err) {
			_ = c.deleteSession(ctx, s.id)
			return nil, errNoSession
		}
		return nil, err
	}
	p, err := c.d.Users.Verify(ctx, resp.GetTokens().GetAccessToken())
	if err != nil {
		return nil, fmt.Errorf("verify refreshed token: %w", err)
	}
	if !p.Admin {
		// Demoted since login: the console is for admins only.
		_, _ = c.d.Identity.Logout(ctx, logoutRequest(resp.GetTokens().GetRefreshToken()))
		_ = c.deleteSession(ctx, s.id)
		return nil, errNoSession
	}
	s.Access, s.Refresh, s.AccessExp = resp.GetTokens().GetAccessToken(), resp.GetTokens().GetRefreshToken(), p.ExpiresAt
	if err := c.saveSession(ctx, s); err != nil {
		return nil, err
	}
	return s, nil
}
