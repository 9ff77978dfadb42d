package apikeyauth

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/meterflow/meterflow/platform/apikey"
	"github.com/meterflow/meterflow/platform/rpcerr"
	identityv1 "github.com/meterflow/meterflow/proto/gen/meterflow/identity/v1"
)

// fakeIdentity answers AuthenticateAPIKey for the keys it knows.
type fakeIdentity struct {
	mu    sync.Mutex
	keys  map[string]Access // by hex of the key's hash
	calls atomic.Int64
	down  bool
	// gate, when set, holds every call until it is closed.
	gate chan struct{}
	// during runs inside each call, before it answers.
	during func()
}

func newFakeIdentity() *fakeIdentity { return &fakeIdentity{keys: map[string]Access{}} }

// add registers a fresh key of user with scopes and returns it.
func (f *fakeIdentity) add(user string, exp time.Time, scopes ...string) (string, Access) {
	k := apikey.New()
	a := Access{UserID: user, KeyID: uuid.NewString(), Scopes: scopes, Token: "token-" + k[:12], ExpiresAt: exp}
	f.mu.Lock()
	f.keys[hex.EncodeToString(apikey.Hash(k))] = a
	f.mu.Unlock()
	return k, a
}

func (f *fakeIdentity) revoke(keyID string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for h, a := range f.keys {
		if a.KeyID == keyID {
			delete(f.keys, h)
		}
	}
}

func (f *fakeIdentity) AuthenticateAPIKey(_ context.Context, in *identityv1.AuthenticateAPIKeyRequest, _ ...grpc.CallOption) (*identityv1.AuthenticateAPIKeyResponse, error) {
	f.calls.Add(1)
	if f.gate != nil {
		<-f.gate
	}
	f.mu.Lock()
	down := f.down
	a, ok := f.keys[hex.EncodeToString(in.GetKeyHash())]
	f.mu.Unlock()
	if f.during != nil {
		f.during() // after the key was read
	}
	if down {
		return nil, rpcerr.New(codes.Unavailable, rpcerr.ServiceUnavailable, "down")
	}
	if !ok {
		return nil, rpcerr.New(codes.Unauthenticated, rpcerr.InvalidAPIKey, "invalid")
	}
	return &identityv1.AuthenticateAPIKeyResponse{
		AccessToken: a.Token, ExpiresAt: timestamppb.New(a.ExpiresAt), UserId: a.UserID, KeyId: a.KeyID, Scopes: a.Scopes,
	}, nil
}

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func setup(t testing.TB, bus Bus) (*Authenticator, *fakeIdentity, *clock) {
	t.Helper()
	id := newFakeIdentity()
	clk := &clock{t: time.Now()}
	a, err := New(id, Options{Now: clk.now, Bus: bus})
	if err != nil {
		t.Fatal(err)
	}
	return a, id, clk
}

// TestMalformedKeysNeverReachIdentity: the format and the checksum are
// checked before any lookup.
func TestMalformedKeysNeverReachIdentity(t *testing.T) {
	t.Parallel()
	a, id, _ := setup(t, nil)
	good, _ := id.add("u1", time.Now().Add(time.Minute), apikey.ScopeRunsRead)
	typo := []byte(good)
	typo[20] ^= 1 // a neighbouring letter or digit
	for _, k := range []string{"", "mfk_", "mfk_short", good[:49], good + "0", "mfk_" + good[5:] + "!", string(typo)} {
		if _, err := a.Authenticate(context.Background(), k); !errors.Is(err, ErrInvalid) {
			t.Fatalf("Authenticate(%q) = %v, want ErrInvalid", k, err)
		}
	}
	if n := id.calls.Load(); n != 0 {
		t.Fatalf("identity was asked %d times", n)
	}
	if _, err := a.Authenticate(context.Background(), good); err != nil {
		t.Fatal(err)
	}
}

// TestCacheBoundsLookups: a key is looked up once per TTL, its refusal
// too; identity's other errors are not cached.
func TestCacheBoundsLookups(t *testing.T) {
	t.Parallel()
	a, id, clk := setup(t, nil)
	ctx := context.Background()
	k, want := id.add("u1", clk.now().Add(time.Minute), apikey.ScopeRunsWrite)
	for range 100 {
		got, err := a.Authenticate(ctx, k)
		if err != nil || got.KeyID != want.KeyID || got.Token != want.Token || got.UserID != "u1" {
			t.Fatalf("Authenticate = %+v, %v", got, err)
		}
	}
	if n := id.calls.Load(); n != 1 {
		t.Fatalf("lookups = %d, want 1", n)
	}
	clk.advance(CacheTTL)
	if _, err := a.Authenticate(ctx, k); err != nil || id.calls.Load() != 2 {
		t.Fatalf("after the TTL: %v, lookups %d", err, id.calls.Load())
	}

	unknown := apikey.New()
	for range 10 {
		if _, err := a.Authenticate(ctx, unknown); !errors.Is(err, ErrInvalid) {
			t.Fatal(err)
		}
	}
	if n := id.calls.Load(); n != 3 {
		t.Fatalf("lookups = %d, want 3 (a refusal is cached too)", n)
	}

	id.down = true
	other, _ := id.add("u2", clk.now().Add(time.Minute), apikey.ScopeRunsRead)
	for range 2 {
		if _, err := a.Authenticate(ctx, other); err == nil || errors.Is(err, ErrInvalid) {
			t.Fatalf("identity down: %v", err)
		}
	}
	if n := id.calls.Load(); n != 5 {
		t.Fatalf("lookups = %d, want 5 (errors are not cached)", n)
	}
}

// TestCacheNeverOutlivesTheToken: a key expiring within the TTL is looked
// up again when its token ends.
func TestCacheNeverOutlivesTheToken(t *testing.T) {
	t.Parallel()
	a, id, clk := setup(t, nil)
	k, _ := id.add("u1", clk.now().Add(time.Second), apikey.ScopeRunsRead)
	if _, err := a.Authenticate(context.Background(), k); err != nil {
		t.Fatal(err)
	}
	clk.advance(time.Second)
	if _, err := a.Authenticate(context.Background(), k); err != nil || id.calls.Load() != 2 {
		t.Fatalf("%v, lookups %d", err, id.calls.Load())
	}
}

// TestConcurrentFirstUseIsOneLookup: requests arriving together with an
// uncached key share one lookup.
func TestConcurrentFirstUseIsOneLookup(t *testing.T) {
	t.Parallel()
	a, id, _ := setup(t, nil)
	k, _ := id.add("u1", time.Now().Add(time.Minute), apikey.ScopeRunsRead)
	id.gate = make(chan struct{})
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if _, err := a.Authenticate(context.Background(), k); err != nil {
				t.Error(err)
			}
		})
	}
	for id.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // let the others queue behind it
	close(id.gate)
	wg.Wait()
	if n := id.calls.Load(); n != 1 {
		t.Fatalf("lookups = %d, want 1", n)
	}
}

// TestInvalidationsDropKeys: a revoked key and a disabled user's keys are
// looked up again at once; other keys stay cached.
func TestInvalidationsDropKeys(t *testing.T) {
	t.Parallel()
	a, id, clk := setup(t, nil)
	ctx := context.Background()
	exp := clk.now().Add(time.Minute)
	k1, a1 := id.add("u1", exp, apikey.ScopeRunsRead)
	k2, _ := id.add("u1", exp, apikey.ScopeRunsRead)
	k3, _ := id.add("u2", exp, apikey.ScopeRunsRead)
	for _, k := range []string{k1, k2, k3} {
		if _, err := a.Authenticate(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	id.revoke(a1.KeyID)
	a.KeyRevoked(ctx, a1.KeyID)
	if _, err := a.Authenticate(ctx, k1); !errors.Is(err, ErrInvalid) {
		t.Fatalf("revoked key: %v", err)
	}
	a.UserDisabled(ctx, "u1")
	calls := id.calls.Load()
	for _, k := range []string{k2, k3} {
		if _, err := a.Authenticate(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	if got := id.calls.Load() - calls; got != 1 {
		t.Fatalf("lookups after disabling u1 = %d, want 1 (k2 only)", got)
	}
}

// TestLookupRacingAnInvalidationIsNotCached: a lookup that may have read
// the key before its revocation answers its own request but is not kept.
func TestLookupRacingAnInvalidationIsNotCached(t *testing.T) {
	t.Parallel()
	a, id, _ := setup(t, nil)
	k, acc := id.add("u1", time.Now().Add(time.Minute), apikey.ScopeRunsRead)
	id.during = func() {
		id.during = nil
		a.KeyRevoked(context.Background(), acc.KeyID) // the revocation lands mid-lookup
		id.revoke(acc.KeyID)
	}
	if _, err := a.Authenticate(context.Background(), k); err != nil {
		t.Fatalf("the racing request itself: %v", err)
	}
	if _, err := a.Authenticate(context.Background(), k); !errors.Is(err, ErrInvalid) {
		t.Fatalf("after the revocation: %v", err)
	}
}

func redisClient(t testing.TB) *redis.Client {
	t.Helper()
	url := os.Getenv("TEST_REDIS_URL")
	if url == "" {
		url = "redis://127.0.0.1:6379/0"
	}
	o, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(o)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// TestRedisBusReachesEveryReplica: two authenticators on one channel (two
// gateway replicas); a revocation on one drops the key from the other.
func TestRedisBusReachesEveryReplica(t *testing.T) {
	t.Parallel()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	channel := "test:apikeys:" + hex.EncodeToString(b)
	rdb := redisClient(t)
	id := newFakeIdentity()
	var subscribed atomic.Int64
	replicas := make([]*Authenticator, 2)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	t0 := time.Now()
	for i := range replicas {
		a, err := New(id, Options{Bus: countingBus{NewRedisBus(rdb, channel, nil), &subscribed}})
		if err != nil {
			t.Fatal(err)
		}
		replicas[i] = a
		wg.Go(func() { a.Listen(ctx) })
	}
	for subscribed.Load() < 2 {
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("subscribed after %v", time.Since(t0))
	k, acc := id.add("u1", time.Now().Add(time.Minute), apikey.ScopeRunsRead)
	for _, a := range replicas {
		if _, err := a.Authenticate(context.Background(), k); err != nil {
			t.Fatal(err)
		}
	}
	id.revoke(acc.KeyID)
	start := time.Now()
	replicas[0].KeyRevoked(context.Background(), acc.KeyID)
	for {
		_, err := replicas[1].Authenticate(context.Background(), k)
		if errors.Is(err, ErrInvalid) {
			break
		}
		if time.Since(start) > time.Second {
			// The message takes milliseconds; waiting out the 3 s cache
			// would mean it never arrived.
			t.Fatalf("the other replica still has the revoked key after %v", time.Since(start))
		}
		time.Sleep(time.Millisecond)
	}
	t.Logf("revocation reached the other replica in %v", time.Since(start))
}

type countingBus struct {
	Bus
	n *atomic.Int64
}

func (b countingBus) Subscribe(ctx context.Context, apply func(Invalidation), subscribed func()) {
	b.Bus.Subscribe(ctx, apply, func() { subscribed(); b.n.Add(1) })
}

func TestParseInvalidation(t *testing.T) {
	t.Parallel()
	id := uuid.NewString()
	for _, tc := range []struct {
		in   string
		want Invalidation
		ok   bool
	}{
		{`{"key_id":"` + id + `"}`, Invalidation{KeyID: id}, true},
		{`{"user_id":"` + id + `"}`, Invalidation{UserID: id}, true},
		{`{}`, Invalidation{}, true},
		{`{"key_id":"*"}`, Invalidation{}, false},
		{`nonsense`, Invalidation{}, false},
	} {
		got, ok := parse(tc.in)
		if ok != tc.ok || got != tc.want {
			t.Errorf("parse(%s) = %+v %v", tc.in, got, ok)
		}
	}
}

// BenchmarkAuthenticate is the gateway's cost of an API key per request:
// cached (checksum, SHA-256, one cache read), and uncached (the same plus
// a lookup, here of a stub identity, so only the gateway's part counts; the
// end-to-end cost is BenchmarkAPIKeyLookup in e2e/stack).
func BenchmarkAuthenticate(b *testing.B) {
	for _, cached := range []bool{true, false} {
		name := "cached"
		ttl := time.Duration(0)
		if !cached {
			name, ttl = "uncached", -1
		}
		b.Run(name, func(b *testing.B) {
			id := newFakeIdentity()
			a, err := New(id, Options{TTL: ttl})
			if err != nil {
				b.Fatal(err)
			}
			k, _ := id.add("u1", time.Now().Add(time.Hour), apikey.ScopeRunsWrite)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := a.Authenticate(ctx, k); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
