package app_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"

	"github.com/meterflow/meterflow/platform/rpcerr"
	walletv1 "github.com/meterflow/meterflow/proto/gen/meterflow/wallet/v1"
	"github.com/meterflow/meterflow/services/wallet/stripeevents"
)

// TestMoneyPerDay: deposits and fees per UTC day for the admin, and each
// user's own fees per day, every day of the window present, today last.
// One fee is moved two days back (the ledger refuses updates; the test
// lifts its triggers for that one statement).
func TestMoneyPerDay(t *testing.T) {
	t.Parallel()
	// The expected days are computed after the calls: a run that crossed
	// 00:00 UTC would expect the wrong ones, so close to midnight the test
	// starts after it.
	if next := time.Now().UTC().Truncate(24 * time.Hour).Add(24 * time.Hour); time.Until(next) < time.Minute {
		time.Sleep(time.Until(next) + time.Second)
	}
	b := setup(t)
	ctx := context.Background()
	alice, bob := uuid.NewString(), uuid.NewString()
	for user, cents := range map[string]int64{alice: 1500, bob: 700} {
		top := b.topUp(user, cents)
		b.mustDeliver(stripeevents.CheckoutSessionEvent("", "checkout.session.completed", session(top, user)))
	}
	fee := func(key, user string, cents int64) {
		t.Helper()
		if _, err := b.workflow.Reserve(ctx, &walletv1.ReserveRequest{Key: key, UserId: user, AmountCents: cents}); err != nil {
			t.Fatal(err)
		}
		if _, err := b.workflow.Capture(ctx, &walletv1.CaptureRequest{Key: key}); err != nil {
			t.Fatal(err)
		}
	}
	fee("old", alice, 40)
	fee("new", alice, 25)
	fee("bob", bob, 10)
	tx, err := b.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `SET LOCAL session_replication_role = replica`); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `UPDATE transactions SET created_at = created_at - interval '2 days' WHERE kind = 'fee' AND amount_cents = -40`); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}

	now := time.Now().UTC()
	day := func(back int) string { return now.AddDate(0, 0, -back).Format(time.DateOnly) }
	st, err := b.gateway.AdminGetStats(b.admin, &walletv1.AdminGetStatsRequest{Days: 3})
	if err != nil {
		t.Fatal(err)
	}
	want := []*walletv1.MoneyDay{{Date: day(2), FeesCents: 40}, {Date: day(1)}, {Date: day(0), DepositsCents: 2200, FeesCents: 35}}
	if !slices.EqualFunc(st.GetByDay(), want, func(a, b *walletv1.MoneyDay) bool {
		return a.GetDate() == b.GetDate() && a.GetDepositsCents() == b.GetDepositsCents() && a.GetFeesCents() == b.GetFeesCents()
	}) {
		t.Errorf("by day = %v, want %v", st.GetByDay(), want)
	}
	if st, err := b.gateway.AdminGetStats(b.admin, &walletv1.AdminGetStatsRequest{}); err != nil || st.GetByDay() != nil || st.GetFees_30DCents() != 75 {
		t.Errorf("no days asked: %v, %v", st, err)
	}

	for user, want := range map[string][]int64{alice: {40, 0, 25}, bob: {0, 0, 10}, uuid.NewString(): {0, 0, 0}} {
		r, err := b.gateway.GetSpendByDay(b.as(user, false), &walletv1.GetSpendByDayRequest{Days: 3})
		if err != nil {
			t.Fatal(err)
		}
		var got []int64
		for i, d := range r.GetDays() {
			if d.GetDate() != day(2-i) {
				t.Errorf("day %d is %s, want %s", i, d.GetDate(), day(2-i))
			}
			got = append(got, d.GetSpentCents())
		}
		if !slices.Equal(got, want) || r.GetTotalCents() != want[0]+want[1]+want[2] || r.GetCurrency() != "usd" {
			t.Errorf("user %s spend = %v (total %d), want %v", user, got, r.GetTotalCents(), want)
		}
	}
	if r, err := b.gateway.GetSpendByDay(b.as(alice, false), &walletv1.GetSpendByDayRequest{}); err != nil || len(r.GetDays()) != 30 || r.GetTotalCents() != 65 {
		t.Errorf("default window: %d days, total %d, %v", len(r.GetDays()), r.GetTotalCents(), err)
	}

	for _, days := range []int32{-1, 367} {
		_, err := b.gateway.AdminGetStats(b.admin, &walletv1.AdminGetStatsRequest{Days: days})
		wantErr(t, err, codes.InvalidArgument, rpcerr.ValidationFailed)
		_, err = b.gateway.GetSpendByDay(b.as(alice, false), &walletv1.GetSpendByDayRequest{Days: days})
		wantErr(t, err, codes.InvalidArgument, rpcerr.ValidationFailed)
	}
	// The admin's series is the admin's: a user's token is refused.
	_, err = b.gateway.AdminGetStats(b.as(alice, false), &walletv1.AdminGetStatsRequest{Days: 3})
	wantErr(t, err, codes.PermissionDenied, rpcerr.Forbidden)
}
