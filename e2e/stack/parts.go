package stack

import (
	"context"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/meterflow/meterflow/platform/database/dbtest"
	"github.com/meterflow/meterflow/platform/jobs"
	identity "github.com/meterflow/meterflow/services/identity/app"
	identitymigrations "github.com/meterflow/meterflow/services/identity/migrations"
)

// The parts of a stack that Start and the drills' harness (e2e/drills,
// whose wallet and workflow are processes it kills) share.

// StripeSecretKey is the wallet's STRIPE_SECRET_KEY: what stripe-mock
// accepts.
const StripeSecretKey = "sk_test_123"

// HoldDefaultTTL is the wallet's HOLD_DEFAULT_TTL in the stack.
const HoldDefaultTTL = 15 * time.Minute

// Lifetime runs the in-process apps of one test's stack: Ctx ends when
// the test does, then every Serve started by Serve or Go returns and the
// functions given to OnStop run, the last added first.
type Lifetime struct {
	// Ctx is the context the apps serve in.
	Ctx     context.Context
	wg      sync.WaitGroup
	closers []func()
}

// NewLifetime returns the Lifetime of t's stack.
func NewLifetime(t testing.TB) *Lifetime {
	ctx, cancel := context.WithCancel(context.Background())
	l := &Lifetime{Ctx: ctx}
	t.Cleanup(func() {
		cancel()
		l.wg.Wait()
		for i := len(l.closers) - 1; i >= 0; i-- {
			l.closers[i]()
		}
	})
	return l
}

// OnStop runs f when the test ends, after the apps stopped serving.
func (l *Lifetime) OnStop(f func()) { l.closers = append(l.closers, f) }

// Serve runs serve (an app's Serve) on lis until the test ends, reporting
// an error it returns to t as a failure of the process name.
func (l *Lifetime) Serve(t testing.TB, name string, lis net.Listener, serve func(context.Context, net.Listener) error) {
	l.Go(func(ctx context.Context) {
		if err := serve(ctx, lis); err != nil {
			t.Errorf("stack: %s stopped: %v", name, err)
		}
	})
}

// Go runs fn in its own goroutine until the test ends.
func (l *Lifetime) Go(fn func(ctx context.Context)) { l.wg.Go(func() { fn(l.Ctx) }) }

// Database returns the URL of a fresh database (dropped when the test
// ends) with a service's migrations and River's.
func Database(t testing.TB, migrations fs.FS, log *slog.Logger) string {
	t.Helper()
	_, url := dbtest.New(t, migrations)
	if err := jobs.MigrateDatabase(context.Background(), url, log); err != nil {
		t.Fatal(err)
	}
	return url
}

// StartIdentity runs identity in process on a fresh database until the
// test ends, with IdentityConfig changed by configure (when not nil), and
// returns the app, its configuration and its gRPC address.
func StartIdentity(t testing.TB, l *Lifetime, log *slog.Logger, configure func(*identity.Config)) (*identity.App, identity.Config, string) {
	t.Helper()
	lis := listen(t)
	cfg := IdentityConfig(Database(t, identitymigrations.FS, log))
	if configure != nil {
		configure(&cfg)
	}
	a, err := identity.New(l.Ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	l.OnStop(a.Close)
	l.Serve(t, "identity", lis, a.Serve)
	return a, cfg, lis.Addr().String()
}

// CommonEnv is Common as the environment of a service's process, with
// SHUTDOWN_GRACE grace and no metrics listener: what every process of a
// drill shares.
func CommonEnv(grace time.Duration) []string {
	c := Common()
	return []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"APP_ENV=" + c.Env, "LOG_LEVEL=info", "INTERNAL_AUTH_SECRET=" + string(c.InternalAuthSecret),
		"JWT_ISSUER=" + c.JWTIssuer, "JWT_AUDIENCE=" + c.JWTAudience,
		"METRICS_ADDR=", "SHUTDOWN_GRACE=" + grace.String(),
	}
}

// WalletStripeEnv is the Stripe part of the wallet's environment in the
// stack (the same as Start's wallet), against the Stripe API at
// stripeBase (a stripe-mock).
func WalletStripeEnv(stripeBase string) []string {
	return []string{
		"STRIPE_SECRET_KEY=" + StripeSecretKey, "STRIPE_WEBHOOK_SECRET=" + WebhookSecret, "STRIPE_API_BASE=" + stripeBase,
		"HOLD_DEFAULT_TTL=" + HoldDefaultTTL.String(),
	}
}

// WaitReady waits up to within for the gateway at base to answer /readyz
// with 200, and fails t when it does not.
func WaitReady(t testing.TB, client *http.Client, base string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		resp, err := client.Get(base + "/readyz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("stack: the gateway at %s is not ready after %s (last: %v)", base, within, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
