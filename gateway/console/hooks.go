package console

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/meterflow/meterflow/gateway/internal/web"
)

// Hooks for the console's end-to-end tests (e2e/console, ADR 0004), which
// cannot live in this package or this module: they start the whole stack,
// real services included, whose gateway imports the console. They read and
// age a stored session, read the clock and the Redis key prefix, and
// replace the client-IP resolver; nothing in the gateway calls them.

// Session is the stored session, for tests that age its tokens.
type Session = web.Session

// LoadSession reads a stored session.
func (c *Console) LoadSession(ctx context.Context, id string) (*Session, error) {
	return c.site.LoadSession(ctx, id)
}

// SaveSession stores s.
func (c *Console) SaveSession(ctx context.Context, s *Session) error {
	return c.site.SaveSession(ctx, s)
}

// Now is the console's clock.
func (c *Console) Now() time.Time { return c.site.Now() }

// SetClientIP replaces the client-IP resolver.
func (c *Console) SetClientIP(f func(*fiber.Ctx) string) { c.site.SetClientIP(f) }

// KeyPrefix is the prefix of the console's Redis keys.
func (c *Console) KeyPrefix() string { return c.site.KeyPrefix() }
