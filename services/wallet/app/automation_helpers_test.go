package app_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	walletv1 "github.com/meterflow/meterflow/proto/gen/meterflow/wallet/v1"
	"github.com/meterflow/meterflow/services/wallet/stripeevents"
	"github.com/meterflow/meterflow/services/wallet/stripemocktest"
)

func withWorkers(n int) func(*options) { return func(o *options) { o.workers = n } }

// sharing makes a second wallet process on b's database and stripe-mock.
func sharing(b *bundle) func(*options) {
	return func(o *options) { o.dbURL, o.stripe, o.keys = b.dbURL, b.stripe, b.keys }
}

// saveCard saves a card for user as Stripe Checkout in setup mode would:
// the session is created through the API, then its completion delivered.
func (b *bundle) saveCard(user string) {
	b.t.Helper()
	resp, err := b.gateway.CreatePaymentMethodSession(b.as(user, false), &walletv1.CreatePaymentMethodSessionRequest{})
	if err != nil || resp.GetCheckoutUrl() == "" {
		b.t.Fatalf("CreatePaymentMethodSession = %v, %v", resp, err)
	}
	var customer string
	if err := b.pool.QueryRow(context.Background(), "SELECT stripe_customer_id FROM wallet_settings WHERE user_id = $1", user).Scan(&customer); err != nil {
		b.t.Fatal(err)
	}
	b.mustDeliver(stripeevents.SetupSessionCompletedEvent("", stripeevents.SetupSession{
		ID: "cs_setup_" + uuid.NewString(), UserID: user, CustomerID: customer, SetupIntentID: "seti_" + uuid.NewString()[:8],
	}))
}

func (b *bundle) settings(user string) *walletv1.WalletSettings {
	b.t.Helper()
	resp, err := b.gateway.GetWalletSettings(b.as(user, false), &walletv1.GetWalletSettingsRequest{})
	if err != nil {
		b.t.Fatalf("GetWalletSettings: %v", err)
	}
	return resp.GetSettings()
}

// autoTopUp switches auto top-up on for user at threshold and amount.
func (b *bundle) autoTopUp(user string, threshold, amount int64) {
	b.t.Helper()
	on := true
	if _, err := b.gateway.UpdateWalletSettings(b.as(user, false), &walletv1.UpdateWalletSettingsRequest{
		AutoTopupEnabled: &on, AutoTopupThresholdCents: &threshold, AutoTopupAmountCents: &amount,
	}); err != nil {
		b.t.Fatalf("UpdateWalletSettings: %v", err)
	}
}

// run reserves and captures a fee for user, as a successful workflow run.
func (b *bundle) run(user string, fee int64) {
	b.t.Helper()
	key := uuid.NewString()
	if _, err := b.workflow.Reserve(context.Background(), &walletv1.ReserveRequest{Key: key, UserId: user, AmountCents: fee}); err != nil {
		b.t.Fatalf("Reserve: %v", err)
	}
	if _, err := b.workflow.Capture(context.Background(), &walletv1.CaptureRequest{Key: key}); err != nil {
		b.t.Fatalf("Capture: %v", err)
	}
}

// eventually polls cond until it holds (what a job does happens in the
// background), failing after a generous bound: a wait, not a timed test.
func (b *bundle) eventually(what string, cond func() bool) {
	b.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			b.t.Fatalf("still not: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// autoTopUps counts user's automatic top-ups with status.
func (b *bundle) autoTopUps(user, status string) int {
	return b.count("SELECT count(*) FROM topups WHERE user_id = $1 AND origin = 'auto' AND status = $2", user, status)
}

// chargesOf returns the off-session charges Stripe made for user.
func (b *bundle) chargesOf(user string) []stripemocktest.Charge {
	var out []stripemocktest.Charge
	for _, c := range b.stripe.Charges() {
		if c.Metadata["user_id"] == user {
			out = append(out, c)
		}
	}
	return out
}

// succeed delivers payment_intent.succeeded for charge c.
func (b *bundle) succeed(c stripemocktest.Charge) {
	b.t.Helper()
	b.mustDeliver(stripeevents.PaymentIntentEvent("", "payment_intent.succeeded", stripeevents.PaymentIntent{ID: c.ID, Amount: c.AmountCents, Metadata: c.Metadata}))
}

var _ testing.TB = (*testing.T)(nil)

// paymentFailed is Stripe's payment_intent.payment_failed for charge c.
func paymentFailed(c stripemocktest.Charge, code string) []byte {
	return stripeevents.PaymentIntentEvent("", "payment_intent.payment_failed", stripeevents.PaymentIntent{
		ID: c.ID, Amount: c.AmountCents, Metadata: c.Metadata, FailureCode: code, FailureMessage: "refused",
	})
}

// emails returns the templates of the outbox emails queued for user, in order.
func (b *bundle) emails(user string) []string {
	b.t.Helper()
	rows, err := b.pool.Query(context.Background(), "SELECT args->>'template' FROM river_job WHERE kind = 'outbox_email' AND args->>'to_user_id' = $1 ORDER BY id", user)
	if err != nil {
		b.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			b.t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}
