package apikeyauth

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

// Invalidation names what changed: one key (revoked), one user's keys
// (the user was disabled), or, with neither set, every key.
type Invalidation struct {
	KeyID  string `json:"key_id,omitempty"`
	UserID string `json:"user_id,omitempty"`
}

// Bus carries invalidations between the gateway's replicas.
type Bus interface {
	// Publish tells every replica (this one included) about inv.
	Publish(ctx context.Context, inv Invalidation) error
	// Subscribe calls apply for every invalidation published, and
	// subscribed every time the subscription starts or starts again after
	// a loss (messages may have been missed), until ctx ends. It blocks.
	Subscribe(ctx context.Context, apply func(Invalidation), subscribed func())
}

// publishTimeout bounds a publish: the invalidation is already applied
// locally, and the other replicas' TTL bounds the rest.
const publishTimeout = time.Second

// RedisBus is a Bus on a Redis pub/sub channel, shared by the replicas of
// one deployment (the channel name carries the deployment's prefix).
type RedisBus struct {
	rdb     *redis.Client
	channel string
	log     *slog.Logger
}

// NewRedisBus returns a bus on channel of rdb.
func NewRedisBus(rdb *redis.Client, channel string, log *slog.Logger) *RedisBus {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &RedisBus{rdb: rdb, channel: channel, log: log}
}

// Publish implements Bus.
func (b *RedisBus) Publish(ctx context.Context, inv Invalidation) error {
	msg, err := json.Marshal(inv)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	return b.rdb.Publish(ctx, b.channel, msg).Err()
}

// Times of the subscription loop: how long it waits for a message before
// it pings the connection (a dead one is found and replaced), and how it
// backs off while Redis cannot be reached (the TTL covers that time).
const (
	subscribeIdle       = 5 * time.Second
	subscribeBackoffMin = 100 * time.Millisecond
	subscribeBackoffMax = 5 * time.Second
)

// Subscribe implements Bus. go-redis subscribes again on every new
// connection and reports it with a *redis.Subscription message, which is
// when subscribed runs.
func (b *RedisBus) Subscribe(ctx context.Context, apply func(Invalidation), subscribed func()) {
	ps := b.rdb.Subscribe(ctx, b.channel)
	defer func() { _ = ps.Close() }()
	// A read in progress does not watch ctx: closing the subscription
	// ends it at once, so a gateway shuts down without waiting for it.
	stop := context.AfterFunc(ctx, func() { _ = ps.Close() })
	defer stop()
	wait := subscribeBackoffMin
	for {
		m, err := ps.ReceiveTimeout(ctx, subscribeIdle)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && ps.Ping(ctx) == nil {
				continue // quiet, and the connection answers: its pong comes next
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			wait = min(2*wait, subscribeBackoffMax)
			continue
		}
		wait = subscribeBackoffMin
		switch m := m.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				subscribed()
			}
		case *redis.Message:
			inv, ok := parse(m.Payload)
			if !ok {
				b.log.WarnContext(ctx, "ignored a malformed API key invalidation", "channel", b.channel)
				continue
			}
			apply(inv)
		}
	}
}

// parse reads a message: ids must be UUIDs, so nothing else matches.
func parse(payload string) (Invalidation, bool) {
	var inv Invalidation
	if err := json.Unmarshal([]byte(payload), &inv); err != nil {
		return Invalidation{}, false
	}
	for _, id := range []string{inv.KeyID, inv.UserID} {
		if id != "" && uuid.Validate(id) != nil {
			return Invalidation{}, false
		}
	}
	return inv, true
}
