// Package apikeyauth authenticates API keys at the gateway
// (docs/trust-model.md, "API keys").
//
// A presented key is checked offline first (format and CRC32 checksum,
// platform/apikey): a mistyped or made-up key never reaches identity. A
// well-formed one is looked up by its SHA-256 with identity's
// AuthenticateAPIKey, which answers with a short-lived access token for the
// key's user carrying the key's id, scopes and spend limit; the services
// verify that token as they verify a login's.
//
// The answer (and a refusal) is cached for CacheTTL (3 s), so a busy key
// costs identity one lookup per replica every 3 s, however many requests it
// makes. Revocation and the user's deactivation take effect on every
// replica within that bound; usually at once: the replica that revoked the
// key (or disabled the user) drops it from its cache and publishes the
// change on a Redis channel, and every replica drops it from its own cache
// when the message arrives. A replica that lost the channel (Redis down, a
// reconnect) clears its whole cache when it subscribes again, and the TTL
// bounds whatever it missed meanwhile.
package apikeyauth

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"
	"google.golang.org/grpc"

	"github.com/meterflow/meterflow/platform/apikey"
	"github.com/meterflow/meterflow/platform/rpcerr"
	identityv1 "github.com/meterflow/meterflow/proto/gen/meterflow/identity/v1"
)

// CacheTTL is how long a key's lookup is reused: the bound on how stale a
// replica's view of a key or its user can be when an invalidation message
// is lost (the contract allows 5 s).
const CacheTTL = 3 * time.Second

// CacheSize bounds the cached keys (about 1 KB each, with the token).
const CacheSize = 10_000

// lookupTimeout bounds one AuthenticateAPIKey call, which requests waiting
// for the same key share.
const lookupTimeout = 5 * time.Second

// ErrInvalid: the key is malformed, has a wrong checksum, or is unknown,
// revoked or expired, or its user is disabled (401 invalid_api_key).
var ErrInvalid = errors.New("invalid api key")

// Access is what a valid key is worth for a while.
type Access struct {
	UserID string
	KeyID  string
	Scopes []string
	// Token is the access token to forward on the services' calls.
	Token     string
	ExpiresAt time.Time
	// EmailVerified: the key's user had verified their email when the
	// token was issued (REQUIRE_VERIFIED_EMAIL).
	EmailVerified bool
}

// Identity is the one identity method the authenticator calls.
type Identity interface {
	AuthenticateAPIKey(ctx context.Context, in *identityv1.AuthenticateAPIKeyRequest, opts ...grpc.CallOption) (*identityv1.AuthenticateAPIKeyResponse, error)
}

// Options tune an Authenticator; the zero value is production's.
type Options struct {
	// TTL overrides CacheTTL; negative disables the cache (benchmarks).
	TTL time.Duration
	// Bus carries invalidations between replicas; nil keeps them local.
	Bus Bus
	// Now is the clock; time.Now when nil.
	Now      func() time.Time
	Log      *slog.Logger
	Registry prometheus.Registerer
}

// Authenticator turns presented keys into Access.
type Authenticator struct {
	identity Identity
	ttl      time.Duration
	bus      Bus
	now      func() time.Time
	log      *slog.Logger

	cache *lru.Cache[[32]byte, entry]
	// gen counts invalidations: a lookup that raced one is used once but
	// not cached, since it may have read the key before the change.
	gen     atomic.Uint64
	flights singleflight.Group
	lookups *prometheus.CounterVec

	listenOnce sync.Once
}

// entry is a cached lookup: an Access, or a refusal (invalid).
type entry struct {
	access  Access
	invalid bool
	until   time.Time
}

// New returns an Authenticator asking id.
func New(id Identity, o Options) (*Authenticator, error) {
	a := &Authenticator{identity: id, ttl: o.TTL, bus: o.Bus, now: o.Now, log: o.Log}
	if a.ttl == 0 {
		a.ttl = CacheTTL
	}
	if a.now == nil {
		a.now = time.Now
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	c, err := lru.New[[32]byte, entry](CacheSize)
	if err != nil {
		return nil, err
	}
	a.cache = c
	a.lookups = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gateway_api_key_lookups_total",
		Help: "API keys presented, by how they were decided: cached, identity (looked up), rejected (format or checksum, no lookup), error (identity unreachable).",
	}, []string{"result"})
	if o.Registry != nil {
		if err := o.Registry.Register(a.lookups); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// Authenticate returns the Access of key, or ErrInvalid. Any other error
// means identity could not answer (the caller answers 503).
func (a *Authenticator) Authenticate(ctx context.Context, key string) (Access, error) {
	if apikey.Check(key) != nil {
		a.lookups.WithLabelValues("rejected").Inc()
		return Access{}, ErrInvalid
	}
	var hash [32]byte
	copy(hash[:], apikey.Hash(key))
	if e, ok := a.cached(hash); ok {
		a.lookups.WithLabelValues("cached").Inc()
		return e.result()
	}
	v, err, _ := a.flights.Do(string(hash[:]), func() (any, error) { return a.lookup(ctx, hash) })
	if err != nil {
		a.lookups.WithLabelValues("error").Inc()
		return Access{}, err
	}
	a.lookups.WithLabelValues("identity").Inc()
	return v.(entry).result()
}

func (e entry) result() (Access, error) {
	if e.invalid {
		return Access{}, ErrInvalid
	}
	return e.access, nil
}

func (a *Authenticator) cached(hash [32]byte) (entry, bool) {
	if a.ttl < 0 {
		return entry{}, false
	}
	e, ok := a.cache.Get(hash)
	if !ok || !a.now().Before(e.until) {
		return entry{}, false
	}
	return e, true
}

// lookup asks identity about hash and caches the answer. The call is
// shared by every request waiting for the same key, so it runs on its own
// deadline, not on the first request's cancellation.
func (a *Authenticator) lookup(ctx context.Context, hash [32]byte) (entry, error) {
	gen := a.gen.Load()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), lookupTimeout)
	defer cancel()
	resp, err := a.identity.AuthenticateAPIKey(ctx, &identityv1.AuthenticateAPIKeyRequest{KeyHash: hash[:]})
	now := a.now()
	var e entry
	switch {
	case rpcerr.Reason(err) == rpcerr.InvalidAPIKey:
		e = entry{invalid: true, until: now.Add(a.ttl)}
	case err != nil:
		return entry{}, err
	default:
		e = entry{access: Access{
			UserID: resp.GetUserId(), KeyID: resp.GetKeyId(), Scopes: resp.GetScopes(),
			Token: resp.GetAccessToken(), ExpiresAt: resp.GetExpiresAt().AsTime(), EmailVerified: resp.GetEmailVerified(),
		}, until: now.Add(a.ttl)}
		if e.access.ExpiresAt.Before(e.until) {
			e.until = e.access.ExpiresAt // the key expires sooner
		}
	}
	if a.ttl >= 0 && a.gen.Load() == gen {
		a.cache.Add(hash, e)
	}
	return e, nil
}

// forget drops the cached entries that match, and any lookup in flight
// from the cache.
func (a *Authenticator) forget(match func(Access) bool) {
	a.gen.Add(1)
	for _, k := range a.cache.Keys() {
		if e, ok := a.cache.Peek(k); ok && !e.invalid && match(e.access) {
			a.cache.Remove(k)
		}
	}
}

// purge drops every cached entry.
func (a *Authenticator) purge() {
	a.gen.Add(1)
	a.cache.Purge()
}

// KeyRevoked drops the key id on this replica and tells the others.
func (a *Authenticator) KeyRevoked(ctx context.Context, keyID string) {
	a.apply(Invalidation{KeyID: keyID})
	a.publish(ctx, Invalidation{KeyID: keyID})
}

// UserDisabled drops the keys of user id on this replica and tells the
// others.
func (a *Authenticator) UserDisabled(ctx context.Context, userID string) {
	a.apply(Invalidation{UserID: userID})
	a.publish(ctx, Invalidation{UserID: userID})
}

func (a *Authenticator) apply(inv Invalidation) {
	switch {
	case inv.KeyID != "":
		a.forget(func(x Access) bool { return x.KeyID == inv.KeyID })
	case inv.UserID != "":
		a.forget(func(x Access) bool { return x.UserID == inv.UserID })
	default:
		a.purge()
	}
}

func (a *Authenticator) publish(ctx context.Context, inv Invalidation) {
	if a.bus == nil {
		return
	}
	if err := a.bus.Publish(context.WithoutCancel(ctx), inv); err != nil {
		// The other replicas drop it when their cache entry ends (CacheTTL).
		a.log.WarnContext(ctx, "could not publish an API key invalidation; other replicas apply it within the cache TTL", "err", err)
	}
}

// Listen applies the other replicas' invalidations until ctx ends. On
// every (re)subscription it clears the cache: messages may have been lost
// while it was not subscribed. Call it once, in its own goroutine.
func (a *Authenticator) Listen(ctx context.Context) {
	if a.bus == nil {
		return
	}
	a.listenOnce.Do(func() {
		a.bus.Subscribe(ctx, a.apply, a.purge)
	})
}
