package app_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/types/known/timestamppb"

	walletv1 "github.com/meterflow/meterflow/proto/gen/meterflow/wallet/v1"
	"github.com/meterflow/meterflow/services/wallet/stripeevents"
)

// metric returns the single series of name in the wallet's registry, or
// nil when it is not exported.
func (b *bundle) metric(name string) *dto.Metric {
	b.t.Helper()
	mfs, err := b.app.Registry.Gather()
	if err != nil {
		b.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0]
		}
	}
	return nil
}

// TestHoldExpiryMetrics: an open hold past its expiry shows in
// wallet_holds_past_expiry until the sweeper releases it, which counts in
// wallet_expired_holds_released_total (the alerts on stuck holds and on
// reconciliation fixes read them; docs/runbooks).
func TestHoldExpiryMetrics(t *testing.T) {
	t.Parallel()
	b := setup(t) // no sweeper: the test runs it
	user := uuid.NewString()
	b.fund(user, 100)
	if _, err := b.workflow.Reserve(context.Background(), &walletv1.ReserveRequest{Key: "short", UserId: user, AmountCents: 60, ExpiresAt: timestamppb.New(time.Now().Add(200 * time.Millisecond))}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.workflow.Reserve(context.Background(), &walletv1.ReserveRequest{Key: "long", UserId: user, AmountCents: 10}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for b.metric("wallet_holds_past_expiry").GetGauge().GetValue() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("wallet_holds_past_expiry = %v, want 1", b.metric("wallet_holds_past_expiry"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := b.metric("wallet_expired_holds_released_total").GetCounter().GetValue(); got != 0 {
		t.Fatalf("released before the sweep: %v", got)
	}
	n, err := b.app.Wallet.SweepExpiredHolds(context.Background())
	if err != nil || n != 1 {
		t.Fatalf("sweep = %d, %v", n, err)
	}
	if got := b.metric("wallet_expired_holds_released_total").GetCounter().GetValue(); got != 1 {
		t.Errorf("wallet_expired_holds_released_total = %v, want 1", got)
	}
	if got := b.metric("wallet_holds_past_expiry").GetGauge().GetValue(); got != 0 {
		t.Errorf("wallet_holds_past_expiry after the sweep = %v, want 0", got)
	}
	for _, name := range []string{"db_pool_max_conns", "db_pool_acquired_conns", "db_pool_total_conns", "db_pool_empty_acquire_wait_seconds_total", "meterflow_build_info"} {
		if b.metric(name) == nil {
			t.Errorf("the wallet does not export %s", name)
		}
	}
}

// TestStripeEventLag: each signature-verified event handled is observed
// in wallet_stripe_event_lag_seconds as the time since Stripe created it;
// a redelivery of an event already handled is not observed again.
func TestStripeEventLag(t *testing.T) {
	t.Parallel()
	b := setup(t)
	user := uuid.NewString()
	tu := b.topUp(user, 1000)
	var ev map[string]any
	if err := json.Unmarshal(stripeevents.CheckoutSessionEvent("", "checkout.session.completed", session(tu, user)), &ev); err != nil {
		t.Fatal(err)
	}
	ev["created"] = time.Now().Add(-2 * time.Hour).Unix() // Stripe retried for two hours
	late, _ := json.Marshal(ev)
	b.mustDeliver(late)
	b.mustDeliver(late) // a redelivery: duplicate

	h := b.metric("wallet_stripe_event_lag_seconds").GetHistogram()
	if h.GetSampleCount() != 1 {
		t.Fatalf("observations = %d, want 1 (the duplicate is not one)", h.GetSampleCount())
	}
	if h.GetSampleSum() < 7200 || h.GetSampleSum() > 7200+600 {
		t.Errorf("lag = %vs, want about two hours", h.GetSampleSum())
	}
	for _, bk := range h.GetBucket() {
		want := uint64(0)
		if bk.GetUpperBound() >= 21600 {
			want = 1
		}
		if bk.GetCumulativeCount() != want {
			t.Errorf("bucket le=%v has %d, want %d", bk.GetUpperBound(), bk.GetCumulativeCount(), want)
		}
	}
}
