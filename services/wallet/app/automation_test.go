package app_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"

	"github.com/meterflow/meterflow/platform/rpcerr"
	walletv1 "github.com/meterflow/meterflow/proto/gen/meterflow/wallet/v1"
	"github.com/meterflow/meterflow/services/wallet/stripemocktest"
)

// TestWalletSettings: the defaults, validation, no auto top-up without a
// card, the saved card as users see it, and its removal switching auto
// top-up off.
func TestWalletSettings(t *testing.T) {
	t.Parallel()
	b := setup(t)
	user := uuid.NewString()
	ctx := b.as(user, false)
	st := b.settings(user)
	if st.LowBalanceThresholdCents != nil || st.GetAutoTopup().GetEnabled() || st.GetAutoTopup().GetThresholdCents() != 500 ||
		st.GetAutoTopup().GetAmountCents() != 2000 || st.GetAutoTopup().LastError != nil || st.PaymentMethod != nil {
		t.Fatalf("defaults = %v", st)
	}
	on := true
	_, err := b.gateway.UpdateWalletSettings(ctx, &walletv1.UpdateWalletSettingsRequest{AutoTopupEnabled: &on})
	wantErr(t, err, codes.FailedPrecondition, rpcerr.NoPaymentMethod)
	for name, r := range map[string]*walletv1.UpdateWalletSettingsRequest{
		"amount below the top-up minimum": {AutoTopupAmountCents: ptr(int64(100))},
		"amount above the top-up maximum": {AutoTopupAmountCents: ptr(int64(100001))},
		"negative threshold":              {AutoTopupThresholdCents: ptr(int64(-1))},
		"negative low-balance threshold":  {LowBalanceThresholdCents: ptr(int64(-5))},
	} {
		_, err := b.gateway.UpdateWalletSettings(ctx, r)
		if !isCode(err, codes.InvalidArgument, rpcerr.ValidationFailed) {
			t.Errorf("%s: %v", name, err)
		}
	}
	resp, err := b.gateway.UpdateWalletSettings(ctx, &walletv1.UpdateWalletSettingsRequest{LowBalanceThresholdCents: ptr(int64(300))})
	if err != nil || resp.GetSettings().GetLowBalanceThresholdCents() != 300 {
		t.Fatalf("set threshold = %v, %v", resp, err)
	}
	resp, err = b.gateway.UpdateWalletSettings(ctx, &walletv1.UpdateWalletSettingsRequest{ClearLowBalanceThreshold: true})
	if err != nil || resp.GetSettings().LowBalanceThresholdCents != nil {
		t.Fatalf("clear threshold = %v, %v", resp, err)
	}

	b.saveCard(user)
	pm := b.settings(user).GetPaymentMethod()
	if pm.GetBrand() == "" || len(pm.GetLast4()) != 4 || pm.GetExpMonth() < 1 || pm.GetExpYear() < 2000 {
		t.Fatalf("saved card = %v", pm)
	}
	b.autoTopUp(user, 700, 1500)
	if a := b.settings(user).GetAutoTopup(); !a.GetEnabled() || a.GetThresholdCents() != 700 || a.GetAmountCents() != 1500 {
		t.Fatalf("auto top-up = %v", a)
	}
	for range 2 { // idempotent
		if _, err := b.gateway.DeletePaymentMethod(ctx, &walletv1.DeletePaymentMethodRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	if st := b.settings(user); st.PaymentMethod != nil || st.GetAutoTopup().GetEnabled() {
		t.Fatalf("after removing the card = %v", st)
	}
	// Another user sees none of it.
	if st := b.settings(uuid.NewString()); st.PaymentMethod != nil {
		t.Fatalf("another user's settings = %v", st)
	}
}

func ptr[T any](v T) *T { return &v }

// TestConcurrentCapturesCrossOnceAndChargeOnce: twenty captures that all
// leave the available balance below both thresholds, at once, make one
// low-balance crossing and one automatic charge, credited once however
// often Stripe reports it.
func TestConcurrentCapturesCrossOnceAndChargeOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, withWorkers(2))
	user := uuid.NewString()
	b.fund(user, 2050)
	b.saveCard(user)
	b.autoTopUp(user, 1000, 2000)
	if _, err := b.gateway.UpdateWalletSettings(b.as(user, false), &walletv1.UpdateWalletSettingsRequest{LowBalanceThresholdCents: ptr(int64(1500))}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	keys := make([]string, 20)
	for i := range keys {
		keys[i] = uuid.NewString()
		if _, err := b.workflow.Reserve(ctx, &walletv1.ReserveRequest{Key: keys[i], UserId: user, AmountCents: 60}); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for _, k := range keys {
		wg.Go(func() {
			if _, err := b.workflow.Capture(ctx, &walletv1.CaptureRequest{Key: k}); err != nil {
				t.Errorf("Capture: %v", err)
			}
		})
	}
	wg.Wait()
	b.wantBalance(user, 850, 0)
	for kind, want := range map[string]int{"low_balance": 1, "auto_topup": 1} {
		if n := b.count("SELECT count(*) FROM balance_crossings WHERE user_id = $1 AND kind = $2", user, kind); n != want {
			t.Errorf("%s crossings = %d, want %d", kind, n, want)
		}
	}
	b.eventually("the automatic charge is made", func() bool {
		return b.count("SELECT count(*) FROM topups WHERE user_id = $1 AND origin = 'auto' AND payment_intent_id IS NOT NULL", user) == 1
	})
	charges := b.chargesOf(user)
	if len(charges) != 1 || charges[0].AmountCents != 2000 || !charges[0].OffSession || !charges[0].Confirm || charges[0].Metadata["auto_topup"] != "true" {
		t.Fatalf("charges = %+v, want one off-session confirmed charge of 2000", charges)
	}
	for range 3 { // Stripe delivers again and again
		b.succeed(charges[0])
	}
	b.wantBalance(user, 2850, 0)
	if n := b.count("SELECT count(*) FROM transactions WHERE user_id = $1 AND kind = 'deposit' AND reference_type = 'payment_intent' AND reference_id = $2", user, charges[0].ID); n != 1 {
		t.Fatalf("deposits for the PaymentIntent = %d, want 1", n)
	}
	// Credited: both crossings armed again; the next capture below crosses anew.
	b.run(user, 1900)
	if n := b.count("SELECT count(*) FROM balance_crossings WHERE user_id = $1", user); n != 4 {
		t.Fatalf("crossings after the balance came back and fell again = %d, want 4", n)
	}
	// One low-balance email per crossing, one receipt per credit, each
	// queued in the transaction that caused it.
	if got := strings.Join(b.emails(user), " "); got != "low_balance topup_receipt low_balance" {
		t.Fatalf("emails = %q", got)
	}
	b.verify()
}

// TestChargeSurvivesACrashBetweenDecidingAndCallingStripe: the crossing
// and its job commit with the capture; the process dies before the job
// runs; another process charges once. Then the answer of a charge is lost
// (the process or the network died after Stripe charged): the retry gets
// the same PaymentIntent back, nothing is charged twice.
func TestChargeSurvivesACrashBetweenDecidingAndCallingStripe(t *testing.T) {
	t.Parallel()
	a := setup(t) // no job workers: the charge is queued only
	user := uuid.NewString()
	a.fund(user, 1000)
	a.saveCard(user)
	a.autoTopUp(user, 900, 1000)
	a.run(user, 200)
	if n := a.autoTopUps(user, "pending"); n != 1 {
		t.Fatalf("pending automatic top-ups = %d, want 1", n)
	}
	a.app.Close() // the process is gone: its pool with it
	if n := len(a.chargesOf(user)); n != 0 {
		t.Fatalf("charges before any worker ran = %d", n)
	}
	a.stripe.LoseChargeAnswers(2)
	b := setup(t, sharing(a), withWorkers(1))
	b.eventually("the charge is recorded", func() bool {
		return b.count("SELECT count(*) FROM topups WHERE user_id = $1 AND origin = 'auto' AND payment_intent_id IS NOT NULL", user) == 1
	})
	charges := b.chargesOf(user)
	if len(charges) != 1 || charges[0].Requests < 2 {
		t.Fatalf("charges = %+v, want one PaymentIntent asked for at least twice with one idempotency key", charges)
	}
	b.succeed(charges[0])
	b.wantBalance(user, 1800, 0)
	b.verify()
}

// TestRefusedChargesSwitchAutoTopUpOffAfterThree: a decline, or a card
// that needs its holder, records last_error each time (and the same
// failure reported again by Stripe counts once); the third in a row
// switches auto top-up off and no further crossing charges.
func TestRefusedChargesSwitchAutoTopUpOffAfterThree(t *testing.T) {
	t.Parallel()
	for _, outcome := range []string{stripemocktest.ChargeDeclined, stripemocktest.ChargeAuthenticationNeeded} {
		t.Run(outcome, func(t *testing.T) {
			t.Parallel()
			b := setup(t, withWorkers(1))
			b.stripe.ChargeWith(outcome)
			user := uuid.NewString()
			b.fund(user, 5000)
			b.saveCard(user)
			b.autoTopUp(user, 4950, 1000)
			for i := 1; i <= 3; i++ {
				b.run(user, 100)
				b.eventually("the charge fails", func() bool { return b.autoTopUps(user, "failed") == i })
				a := b.settings(user).GetAutoTopup()
				if !strings.HasPrefix(a.GetLastError(), outcome) || a.GetEnabled() != (i < 3) {
					t.Fatalf("after failure %d: auto top-up = %v", i, a)
				}
				// Stripe's own report of the same failure changes nothing.
				c := b.chargesOf(user)[i-1]
				b.mustDeliver(paymentFailed(c, outcome))
				if n := b.count("SELECT auto_topup_failures FROM wallet_settings WHERE user_id = $1", user); n != i {
					t.Fatalf("failures after %d = %d", i, n)
				}
			}
			if got := strings.Join(b.emails(user), " "); got != "auto_topup_failed auto_topup_failed auto_topup_failed" {
				t.Fatalf("emails = %q", got)
			}
			var off, link string
			if err := b.pool.QueryRow(context.Background(), `SELECT args->'data'->>'switched_off', args->'data'->>'pay_url' FROM river_job
				WHERE kind = 'outbox_email' AND args->>'to_user_id' = $1 ORDER BY id DESC LIMIT 1`, user).Scan(&off, &link); err != nil {
				t.Fatal(err)
			}
			if off != "true" || link != "https://app.example.com/app/topup?amount_cents=1000" {
				t.Fatalf("the third failure's email: switched_off %q, pay_url %q", off, link)
			}
			b.run(user, 100)
			if n := len(b.chargesOf(user)); n != 3 {
				t.Fatalf("charges = %d, want 3 (none once switched off)", n)
			}
			b.wantBalance(user, 4600, 0)
			b.verify()
		})
	}
}

// TestMonthlyCapStopsAutomaticCharges: with a cap of 2 × the amount, the
// third crossing of the month charges nothing and says why.
func TestMonthlyCapStopsAutomaticCharges(t *testing.T) {
	t.Parallel()
	b := setup(t, withWorkers(1), func(o *options) { o.capMult = 2 })
	user := uuid.NewString()
	b.fund(user, 1000)
	b.saveCard(user)
	b.autoTopUp(user, 900, 500)
	for i := 1; i <= 2; i++ {
		b.run(user, 500) // 1000 → 500: below 900
		b.eventually("the charge is made", func() bool { return len(b.chargesOf(user)) == i })
		b.succeed(b.chargesOf(user)[i-1]) // back to 1000
	}
	b.wantBalance(user, 1000, 0)
	b.run(user, 500)
	if n := b.count("SELECT count(*) FROM balance_crossings WHERE user_id = $1 AND outcome = 'capped'", user); n != 1 {
		t.Fatalf("capped crossings = %d", n)
	}
	if a := b.settings(user).GetAutoTopup(); !strings.HasPrefix(a.GetLastError(), "monthly_cap_reached") || !a.GetEnabled() {
		t.Fatalf("auto top-up = %v", a)
	}
	if n := len(b.chargesOf(user)); n != 2 {
		t.Fatalf("charges = %d, want 2", n)
	}
	b.verify()
}
