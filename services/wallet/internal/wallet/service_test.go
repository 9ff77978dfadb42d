package wallet_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/meterflow/meterflow/platform/database/dbtest"
	"github.com/meterflow/meterflow/platform/idempotency"
	"github.com/meterflow/meterflow/platform/jobs"
	"github.com/meterflow/meterflow/services/wallet/internal/postgres"
	"github.com/meterflow/meterflow/services/wallet/internal/wallet"
	"github.com/meterflow/meterflow/services/wallet/migrations"
	"github.com/meterflow/meterflow/services/wallet/stripeevents"
)

const webhookSecret = "whsec_test_wallet_rules"

// clock is the service's settable clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// booked counts what the service reports as booked (wallet.Metrics).
type booked struct {
	mu    sync.Mutex
	count map[string]int
}

func (b *booked) Booked(kind string, _ int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.count[kind]++
}
func (b *booked) WebhookEvent(string, string)  {}
func (b *booked) UnlinkedPayment(string)       {}
func (b *booked) HoldsExpired(int)             {}
func (b *booked) StripeEventLag(time.Duration) {}
func (b *booked) Crossing(string, string)      {}
func (b *booked) AutoTopUp(string)             {}

func (b *booked) of(kind string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.count[kind]
}

type fixture struct {
	svc     *wallet.Service
	store   *postgres.Store
	pool    *pgxpool.Pool
	clock   *clock
	metrics *booked
}

// setup returns a Service on a fresh database whose clock is fixed at a
// whole second (Postgres keeps microseconds), far from the real time.
func setup(t *testing.T) fixture {
	t.Helper()
	pool, _ := dbtest.New(t, migrations.FS)
	if err := jobs.Migrate(context.Background(), pool, nil); err != nil {
		t.Fatal(err)
	}
	queue, err := river.NewClient(riverpgxv5.New(pool), &river.Config{}) // inserts only: emails stay queued
	if err != nil {
		t.Fatal(err)
	}
	f := fixture{store: postgres.New(pool, queue), pool: pool, clock: &clock{now: time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)},
		metrics: &booked{count: map[string]int{}}}
	f.svc = wallet.NewService(wallet.Config{
		Store: f.store, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: f.metrics, Now: f.clock.Now,
		Currency: "usd", AdjustmentMaxCents: 1_000_000, WebhookSecret: webhookSecret, WebhookTolerance: 300 * time.Second,
		HoldDefaultTTL: 15 * time.Minute, HoldMaxTTL: 7 * 24 * time.Hour, IdempotencyTTL: 48 * time.Hour, IdempotencyStale: 5 * time.Minute,
	})
	return f
}

// TestTopUpTimesComeFromTheServiceClock: credited_at and parked_at are
// written by the store as the wallet package decided them, from the
// service's clock (the store used to read time.Now itself).
func TestTopUpTimesComeFromTheServiceClock(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	user := uuid.New()
	for _, tc := range []struct{ currency, wantStatus string }{{"usd", wallet.TopUpPaid}, {"eur", wallet.TopUpParked}} {
		top, err := f.store.CreateTopUp(ctx, wallet.TopUp{ID: uuid.New(), UserID: user, AmountCents: 900, Currency: "usd"})
		if err != nil {
			t.Fatal(err)
		}
		sess := wallet.CheckoutSession{ID: "cs_" + top.ID.String(), URL: "https://checkout.example/x"}
		if _, err := f.store.AttachCheckoutSession(ctx, top.ID, sess, nil, nil); err != nil {
			t.Fatal(err)
		}
		payload := stripeevents.CheckoutSessionEvent("", wallet.EventCheckoutCompleted, stripeevents.Session{
			ID: sess.ID, TopUpID: top.ID.String(), UserID: user.String(), AmountTotal: 900, Currency: tc.currency, PaymentStatus: "paid",
		})
		if err := f.svc.HandleStripeEvent(ctx, payload, stripeevents.Sign(payload, webhookSecret, time.Now())); err != nil {
			t.Fatal(err)
		}
		got, err := f.store.GetTopUp(ctx, top.ID)
		if err != nil || got.Status != tc.wantStatus {
			t.Fatalf("%s: top-up = %+v, %v; want %s", tc.currency, got, err, tc.wantStatus)
		}
		at := got.CreditedAt
		if tc.wantStatus == wallet.TopUpParked {
			at = got.ParkedAt
		}
		if !at.Equal(f.clock.Now()) {
			t.Errorf("%s: %s at %v, want the service's clock %v", tc.currency, got.Status, at, f.clock.Now())
		}
	}
}

func adjust(f fixture, admin, user uuid.UUID, amount int64, reason, key string) (wallet.Transaction, error) {
	return f.svc.Adjust(context.Background(), wallet.AdjustRequest{ActorID: admin, UserID: user, AmountCents: amount, Reason: reason, IdempotencyKey: key})
}

// TestAdjustmentRepeatIsBookedOnce: a repeated adjustment answers with the
// first ledger row and is not counted as booked again (it used to be).
func TestAdjustmentRepeatIsBookedOnce(t *testing.T) {
	t.Parallel()
	f := setup(t)
	admin, user := uuid.New(), uuid.New()
	first, err := adjust(f, admin, user, 700, "goodwill", "k1")
	if err != nil {
		t.Fatal(err)
	}
	again, err := adjust(f, admin, user, 700, "goodwill", "k1")
	if err != nil || again.ID != first.ID {
		t.Fatalf("repeat = %+v, %v; want the first row %s", again, err, first.ID)
	}
	if n := f.metrics.of(wallet.KindAdjustment); n != 1 {
		t.Fatalf("booked %d adjustments, want 1", n)
	}
	if w, err := f.svc.GetWallet(context.Background(), user); err != nil || w.BalanceCents != 700 {
		t.Fatalf("wallet = %+v, %v", w, err)
	}
}

// TestAdjustmentKeyIsForgottenAfterTheTTL: an adjustment's key follows the
// same rules as a top-up's (idempotency.Decide): within IDEMPOTENCY_TTL
// another request under it is refused; after it, the record is forgotten
// even before the sweeper deleted it (adjustments used to refuse it until
// then).
func TestAdjustmentKeyIsForgottenAfterTheTTL(t *testing.T) {
	t.Parallel()
	f := setup(t)
	admin, user := uuid.New(), uuid.New()
	if _, err := adjust(f, admin, user, 500, "first", "k"); err != nil {
		t.Fatal(err)
	}
	if _, err := adjust(f, admin, user, 200, "second", "k"); !errors.Is(err, idempotency.ErrKeyReused) {
		t.Fatalf("another request under the key: %v, want ErrKeyReused", err)
	}
	f.clock.advance(49 * time.Hour)
	second, err := adjust(f, admin, user, 200, "second", "k")
	if err != nil || second.AmountCents != 200 {
		t.Fatalf("after the TTL = %+v, %v; want a new adjustment", second, err)
	}
	if w, err := f.svc.GetWallet(context.Background(), user); err != nil || w.BalanceCents != 700 {
		t.Fatalf("wallet = %+v, %v; want 700", w, err)
	}
}
