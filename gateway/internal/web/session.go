package web

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// refreshAhead is how long before its expiry an access token is renewed, so
// a page's several calls never race the expiry.
const refreshAhead = 60 * time.Second

// errNoSession means the request has no live session.
var errNoSession = errors.New("no session")

// Session is one login, stored server-side: the cookie (Site.SessionCookie)
// holds only its random id.
type Session struct {
	id string

	UserID    string    `json:"user_id"`
	Email     string    `json:"email"`
	Access    string    `json:"access"`
	Refresh   string    `json:"refresh"`
	AccessExp time.Time `json:"access_exp"`
	CSRF      string    `json:"csrf"`
	Expires   time.Time `json:"expires"`
	// Started is when the login began (or, after EndOtherSessions, when it
	// was kept): a user's EndUserSessions ends every session started
	// before it.
	Started time.Time `json:"started"`
	// Flash is a one-time notice shown on the next page.
	Flash string `json:"flash,omitempty"`
}

// sessionKey hashes the id so that reading Redis does not hand out live
// session cookies.
func (c *Server) sessionKey(id string) string {
	h := sha256.Sum256([]byte(id))
	return c.cfg.KeyPrefix + "session:" + hex.EncodeToString(h[:])
}

func (c *Server) refreshLockKey(id string) string {
	return c.sessionKey(id) + ":refresh"
}

// A session is one Redis hash: sealedField holds the session sealed with
// the session key (AES-256-GCM, bound to the Redis key, so a value copied
// to another key does not open), seenField the site's clock's Unix
// milliseconds of the session's last page (the idle timer). Both live in
// one key, so one DEL or one expiry removes both.
const (
	sealedField = "v"
	seenField   = "seen"
)

// SaveSession writes s, sealed, with the time it has left to live; the
// last-seen time is left as it is.
func (c *Server) SaveSession(ctx context.Context, s *Session) error {
	ttl := s.Expires.Sub(c.cfg.Now())
	if ttl <= 0 {
		return errNoSession
	}
	raw, err := json.Marshal(s)
	if err != nil {
		return err
	}
	key := c.sessionKey(s.id)
	sealed, err := c.box.Seal(raw, key)
	if err != nil {
		return err
	}
	_, err = c.d.Redis.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, key, sealedField, sealed)
		p.PExpire(ctx, key, ttl)
		return nil
	})
	if err != nil {
		return fmt.Errorf("save session: %w", err)
	}
	return nil
}

// touchSession records now as the session's last activity.
func (c *Server) touchSession(ctx context.Context, s *Session) error {
	now := c.cfg.Now()
	ttl := s.Expires.Sub(now)
	if ttl <= 0 {
		return errNoSession
	}
	key := c.sessionKey(s.id)
	_, err := c.d.Redis.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, key, seenField, now.UnixMilli())
		p.PExpire(ctx, key, ttl) // a key that vanished meanwhile does not stay forever
		return nil
	})
	if err != nil {
		return fmt.Errorf("touch session: %w", err)
	}
	return nil
}

// LoadSession returns the live session of id, or errNoSession. A session
// past its absolute lifetime or idle for IdleTimeout is ended here, when
// it is next seen: its refresh token is revoked at identity and it is
// deleted.
func (c *Server) LoadSession(ctx context.Context, id string) (*Session, error) {
	if id == "" {
		return nil, errNoSession
	}
	key := c.sessionKey(id)
	vals, err := c.d.Redis.HMGet(ctx, key, sealedField, seenField).Result()
	if err != nil && strings.HasPrefix(err.Error(), "WRONGTYPE") {
		c.endLegacySession(ctx, key)
		return nil, errNoSession
	}
	if err != nil {
		return nil, fmt.Errorf("load session: %w", err)
	}
	sealed, _ := vals[0].(string)
	if sealed == "" {
		return nil, errNoSession
	}
	s, err := c.openSession(key, sealed)
	if err != nil {
		c.log.WarnContext(ctx, "a stored session does not open (another SESSION_ENCRYPTION_KEY, or tampered); it is deleted", "err", err)
		_ = c.d.Redis.Del(ctx, key).Err()
		return nil, errNoSession
	}
	s.id = id
	now := c.cfg.Now()
	seen, _ := vals[1].(string)
	lastSeen, err := strconv.ParseInt(seen, 10, 64)
	if err != nil {
		lastSeen = 0 // never touched or unreadable: idle
	}
	if !now.Before(s.Expires) || now.Sub(time.UnixMilli(lastSeen)) >= c.cfg.IdleTimeout {
		c.endSession(ctx, s)
		return nil, errNoSession
	}
	ended, err := c.d.Redis.Get(ctx, c.userEndedKey(s.UserID)).Int64()
	switch {
	case err == nil && !s.Started.After(time.UnixMilli(ended)):
		// The user ended every login (EndUserSessions) after this one began.
		c.endSession(ctx, s)
		return nil, errNoSession
	case err != nil && !errors.Is(err, redis.Nil):
		return nil, fmt.Errorf("load session: %w", err)
	}
	return s, nil
}

// userEndedKey holds when a user last ended every session of theirs on
// the site (Unix milliseconds of the site's clock).
func (c *Server) userEndedKey(userID string) string {
	return c.cfg.KeyPrefix + "user-ended:" + userID
}

// EndUserSessions ends every session of userID on the site that started
// until now, on every replica, at their next page: "sign out everywhere"
// and a changed password take effect at once, not when the sessions'
// access tokens expire. The mark lives as long as a session can.
func (c *Server) EndUserSessions(ctx context.Context, userID string) error {
	now := c.cfg.Now().UnixMilli()
	if err := c.d.Redis.Set(ctx, c.userEndedKey(userID), now, c.cfg.SessionTTL).Err(); err != nil {
		return fmt.Errorf("end sessions: %w", err)
	}
	return nil
}

// EndOtherSessions ends every session of s's user but s itself (after a
// password change, which keeps the login that made it).
func (c *Server) EndOtherSessions(ctx context.Context, s *Session) error {
	if err := c.EndUserSessions(ctx, s.UserID); err != nil {
		return err
	}
	s.Started = c.cfg.Now().Add(time.Millisecond)
	return c.SaveSession(ctx, s)
}

// openSession decrypts a stored session.
func (c *Server) openSession(key, sealed string) (*Session, error) {
	raw, err := c.box.Open([]byte(sealed), key)
	if err != nil {
		return nil, err
	}
	var s Session
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("decode session: %w", err)
	}
	return &s, nil
}

// endSession revokes the session's login at identity and deletes it. A
// failed revocation is logged, not retried: the refresh token dies on its
// own when the session would have (the site asks identity for a refresh
// lifetime no longer than the session's).
func (c *Server) endSession(ctx context.Context, s *Session) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.CallTimeout)
	defer cancel()
	if s.Refresh != "" {
		if _, err := c.d.Identity.Logout(cctx, logoutRequest(s.Refresh)); err != nil {
			c.log.WarnContext(cctx, "could not revoke the refresh token of an ended session", "err", err)
		}
	}
	if err := c.deleteSession(cctx, s.id); err != nil {
		c.log.ErrorContext(cctx, "could not delete an ended session", "err", err)
	}
}

// endLegacySession ends a session stored in clear text by a version before
// sessions were sealed (a plain string key): its refresh token is revoked
// and the key deleted, so an upgrade leaves no readable token behind.
func (c *Server) endLegacySession(ctx context.Context, key string) {
	raw, err := c.d.Redis.Get(ctx, key).Bytes()
	var s Session
	if err == nil && json.Unmarshal(raw, &s) == nil && s.Refresh != "" {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.CallTimeout)
		defer cancel()
		if _, err := c.d.Identity.Logout(cctx, logoutRequest(s.Refresh)); err != nil {
			c.log.WarnContext(cctx, "could not revoke the refresh token of a clear-text session", "err", err)
		}
	}
	_ = c.d.Redis.Del(context.WithoutCancel(ctx), key).Err()
}

func (c *Server) deleteSession(ctx context.Context, id string) error {
	return c.d.Redis.Del(ctx, c.sessionKey(id)).Err()
}

// setCookie sets one of the site's cookies: HttpOnly, SameSite=Strict,
// scoped to the site's path, Secure as configured. maxAge < 0 deletes it.
func (c *Server) setCookie(x *fiber.Ctx, name, value string, maxAge time.Duration) {
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
func (c *Server) freshAccess(ctx context.Context, s *Session) (*Session, error) {
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
			again, err := c.LoadSession(ctx, s.id)
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
	if again, err := c.LoadSession(ctx, s.id); err != nil {
		return nil, err
	} else if again.Refresh != s.Refresh {
		return again, nil
	}
	resp, err := c.d.Identity.Refresh(ctx, refreshRequest(s.Refresh))
	if err != nil {
		if status.Code(err) == codes.Unauthenticated { // the login is over
			_ = c.deleteSession(ctx, s.id)
			return nil, errNoSession
		}
		return nil, err
	}
	p, err := c.d.Users.Verify(ctx, resp.GetTokens().GetAccessToken())
	if err != nil {
		return nil, fmt.Errorf("verify refreshed token: %w", err)
	}
	if c.site.RequireAdmin && !p.Admin {
		// Demoted since login: the site is for admins only.
		_, _ = c.d.Identity.Logout(ctx, logoutRequest(resp.GetTokens().GetRefreshToken()))
		_ = c.deleteSession(ctx, s.id)
		return nil, errNoSession
	}
	s.Access, s.Refresh, s.AccessExp = resp.GetTokens().GetAccessToken(), resp.GetTokens().GetRefreshToken(), p.ExpiresAt
	if err := c.SaveSession(ctx, s); err != nil {
		return nil, err
	}
	return s, nil
}
