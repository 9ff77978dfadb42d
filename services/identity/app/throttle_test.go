package app_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/meterflow/meterflow/platform/rpcerr"
	identityv1 "github.com/meterflow/meterflow/proto/gen/meterflow/identity/v1"
)

func (b *bundle) login(email, pw string) error {
	_, err := b.client.Login(context.Background(), &identityv1.LoginRequest{Email: email, Password: pw})
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

func TestLoginThrottlePerAccount(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.signUp("judy@example.com")
	for range 5 {
		wantErr(t, b.login("judy@example.com", "wrong password"), codes.Unauthenticated, rpcerr.InvalidCredentials)
	}
	// The sixth attempt waits 1 s after the fifth failure, even with the
	// right password and whatever the letter case of the email.
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
	if err := b.app.Prune(context.Background()); err != nil {
		t.Fatal(err)
	}
	if count("login_throttle") != 1 || count("refresh_tokens") != 1 {
		t.Fatal("Prune deleted live rows")
	}
	b.clock.Advance(720*time.Hour + 25*time.Hour) // refresh TTL + a day of retention
	if err := b.app.Prune(context.Background()); err != nil {
		t.Fatal(err)
	}
	if count("login_throttle") != 0 || count("refresh_tokens") != 0 {
		t.Fatalf("after expiry: %d counters, %d tokens left", count("login_throttle"), count("refresh_tokens"))
	}
}
