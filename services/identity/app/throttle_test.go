package app_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/meterflow/meterflow/platform/rpcerr"
	identityv1 "github.com/meterflow/meterflow/proto/gen/meterflow/identity/v1"
)

func (b *bundle) login(email, pw string) error {
	return b.loginFrom("", email, pw)
}

// loginFrom logs in as the gateway does for a client at ip.
func (b *bundle) loginFrom(ip, email, pw string) error {
	_, err := b.client.Login(context.Background(), &identityv1.LoginRequest{Email: email, Password: pw, ClientIp: ip})
	return err
}

// wantThrottled fails unless err is rate_limited with a retry delay in (0, max].
func wantThrottled(t *testing.T, err error, max time.Duration) time.Duration {
	t.Helper()
	wantErr(t, err, codes.ResourceExhausted, rpcerr.RateLimited)
	d, ok := rpcerr.RetryAfter(err)
	if !ok || d <= 0 || d > max {
		t.Fatalf("retry after %s (present %v), want in (0, %s]", d, ok, max)
	}
	return d
}

func TestLoginThrottlePerClient(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.signUp("judy@example.com")
	for range 5 {
		wantErr(t, b.login("judy@example.com", "wrong password"), codes.Unauthenticated, rpcerr.InvalidCredentials)
	}
	// The sixth attempt from the same client waits 1 s after the fifth
	// failure, even with the right password and whatever the letter case
	// of the email.
	wantThrottled(t, b.login("JUDY@example.com", password), time.Second)
	b.clock.Advance(time.Second)
	// After the wait the owner gets in, and success resets the counter.
	if err := b.login("judy@example.com", password); err != nil {
		t.Fatalf("Login after the wait: %v", err)
	}
	for range 5 {
		wantErr(t, b.login("judy@example.com", "wrong password"), codes.Unauthenticated, rpcerr.InvalidCredentials)
	}
	wantThrottled(t, b.login("judy@example.com", password), time.Second)
	if got := counter(t, b, "identity_logins_total", "throttled"); got != 2 {
		t.Fatalf("identity_logins_total{result=throttled} = %v, want 2", got)
	}
}

func TestLoginThrottleBackoffIsCapped(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.signUp("ken@example.com")
	// Failure n (n ≥ 5) makes the next attempt wait min(2^(n-5) s, 60 s).
	for n := 1; n <= 12; n++ {
		wantErr(t, b.login("ken@example.com", "wrong password"), codes.Unauthenticated, rpcerr.InvalidCredentials)
		if n < 5 {
			continue
		}
		want := min(time.Second<<(n-5), time.Minute)
		got := wantThrottled(t, b.login("ken@example.com", password), want)
		if got < want-5*time.Second {
			t.Fatalf("after %d failures retry after %s, want about %s", n, got, want)
		}
		b.clock.Advance(want)
	}
	// The attacker stops: 60 s later the owner logs in.
	if err := b.login("ken@example.com", password); err != nil {
		t.Fatalf("Login after the capped wait: %v", err)
	}
}

func TestLoginThrottleWindowExpires(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.signUp("lena@example.com")
	for range 4 {
		wantErr(t, b.login("lena@example.com", "wrong password"), codes.Unauthenticated, rpcerr.InvalidCredentials)
	}
	// Failures more than 15 minutes apart are not consecutive: the run restarts.
	b.clock.Advance(15*time.Minute + time.Second)
	for range 4 {
		wantErr(t, b.login("lena@example.com", "wrong password"), codes.Unauthenticated, rpcerr.InvalidCredentials)
	}
	if err := b.login("lena@example.com", password); err != nil {
		t.Fatalf("Login: %v", err)
	}
}

func TestLoginThrottleUnknownEmail(t *testing.T) {
	t.Parallel()
	b := setup(t)
	// Unknown accounts are throttled the same way, so throttling reveals nothing.
	for range 5 {
		wantErr(t, b.login("ghost@example.com", password), codes.Unauthenticated, rpcerr.InvalidCredentials)
	}
	wantThrottled(t, b.login("ghost@example.com", password), time.Second)
}

func TestLoginThrottleCountsConcurrentFailures(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.signUp("mallory@example.com")
	var wg sync.WaitGroup
	errs := make([]error, 5)
	start := make(chan struct{})
	for i := range errs {
		wg.Go(func() {
			<-start
			errs[i] = b.login("mallory@example.com", "wrong password")
		})
	}
	close(start)
	wg.Wait()
	for _, err := range errs {
		wantErr(t, err, codes.Unauthenticated, rpcerr.InvalidCredentials)
	}
	// All five were counted: the next attempt is throttled.
	wantThrottled(t, b.login("mallory@example.com", password), time.Second)
}

// attackUntil fails logins to email from ip, waiting out each throttle on
// the test clock, until the account has counted n failures from ip.
func (b *bundle) attackUntil(ip, email string, n int) {
	b.t.Helper()
	for counted := 0; counted < n; {
		err := b.loginFrom(ip, email, "wrong password")
		if d, ok := rpcerr.RetryAfter(err); ok {
			b.clock.Advance(d)
			continue
		}
		wantErr(b.t, err, codes.Unauthenticated, rpcerr.InvalidCredentials)
		counted++
	}
}

// TestLoginStrangerCannotLockOutOwner: a stranger hammering an account
// from one address is slowed down on that address only; the owner, from
// an address they used before, is let in at once, and from a new address
// after at most about a second.
func TestLoginStrangerCannotLockOutOwner(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.signUp("olga@example.com")
	const stranger, home, cafe = "198.51.100.7", "203.0.113.9", "2001:db8:cafe:1::42"
	if err := b.loginFrom(home, "olga@example.com", password); err != nil {
		t.Fatal(err)
	}
	// 30 failures from one address: past the per-client backoff's cap and
	// past the account's ceiling of 20.
	b.attackUntil(stranger, "olga@example.com", 30)
	// The stranger's address itself is held off (up to a minute).
	wantThrottled(t, b.loginFrom(stranger, "olga@example.com", password), time.Minute)
	// The owner at home gets in at once, however recent the attack.
	if err := b.loginFrom(home, "olga@example.com", password); err != nil {
		t.Fatalf("owner from a known address: %v", err)
	}
	// From a new address, right after a failure, at most a second's wait.
	b.clock.Advance(time.Minute)
	b.attackUntil(stranger, "olga@example.com", 1)
	if err := b.loginFrom(cafe, "olga@example.com", password); err != nil {
		b.clock.Advance(wantThrottled(t, err, time.Second))
		if err := b.loginFrom(cafe, "olga@example.com", password); err != nil {
			t.Fatalf("owner from a new address after the wait: %v", err)
		}
	}
	// The new address is now known: the next attack does not delay it.
	b.clock.Advance(time.Minute)
	b.attackUntil(stranger, "olga@example.com", 1)
	if err := b.loginFrom("2001:db8:cafe:1::99", "olga@example.com", password); err != nil {
		t.Fatalf("owner from the same IPv6 /64: %v", err)
	}
}

// TestLoginDistributedBruteForceIsBounded: many addresses together get the
// account's 20 free failures and then one attempt a second, however many
// they are; each address's own backoff applies on top.
func TestLoginDistributedBruteForceIsBounded(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.signUp("pete@example.com")
	const addresses, seconds = 22, 15
	checked := 0
	round := func() {
		for i := range addresses {
			err := b.loginFrom(fmt.Sprintf("192.0.2.%d", i+1), "pete@example.com", "wrong password")
			if _, ok := rpcerr.RetryAfter(err); ok {
				wantThrottled(t, err, time.Minute) // the account's second, or the address's own backoff
				continue
			}
			wantErr(t, err, codes.Unauthenticated, rpcerr.InvalidCredentials)
			checked++
		}
	}
	round()
	if checked != 20 {
		t.Fatalf("%d addresses at once: %d passwords checked, want the account's 20 free failures", addresses, checked)
	}
	// The test clock is real time plus what the test advances, so a slow
	// machine adds the real seconds the rounds take: one attempt for each.
	started := time.Now()
	for range seconds {
		b.clock.Advance(time.Second)
		round()
	}
	want, elapsed := 20+seconds, int(time.Since(started)/time.Second)
	if checked < want || checked > want+elapsed {
		t.Fatalf("over %d s (+%d s of real time): %d passwords checked, want %d to %d (20 free, then one a second)", seconds, elapsed, checked, want, want+elapsed)
	}
}

func TestPruneForgetsOldFailuresAndTokens(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.signUp("nina@example.com")
	for range 3 {
		wantErr(t, b.login("nina@example.com", "wrong password"), codes.Unauthenticated, rpcerr.InvalidCredentials)
	}
	count := func(table string) int {
		var n int
		if err := b.pool.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if err := b.loginFrom("203.0.113.1", "nina@example.com", password); err != nil {
		t.Fatal(err)
	}
	if err := b.app.Prune(context.Background()); err != nil {
		t.Fatal(err)
	}
	if count("login_throttle") != 1 || count("login_client_throttle") != 1 || count("login_known_clients") != 1 || count("refresh_tokens") != 2 {
		t.Fatal("Prune deleted live rows")
	}
	b.clock.Advance(720*time.Hour + 25*time.Hour) // refresh TTL + a day of retention, > 30 days
	if err := b.app.Prune(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"login_throttle", "login_client_throttle", "login_known_clients", "refresh_tokens"} {
		if n := count(table); n != 0 {
			t.Errorf("after expiry: %d rows left in %s", n, table)
		}
	}
}
