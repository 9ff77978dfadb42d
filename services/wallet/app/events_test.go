package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/meterflow/meterflow/platform/outbox"
	walletv1 "github.com/meterflow/meterflow/proto/gen/meterflow/wallet/v1"
	"github.com/meterflow/meterflow/services/wallet/stripeevents"
)

// events returns the outbox's webhook events queued for user, in order.
func (b *bundle) events(user string) []outbox.Event {
	b.t.Helper()
	rows, err := b.pool.Query(context.Background(), "SELECT args FROM river_job WHERE kind = 'outbox_event' AND args->>'user_id' = $1 ORDER BY id", user)
	if err != nil {
		b.t.Fatal(err)
	}
	defer rows.Close()
	var out []outbox.Event
	for rows.Next() {
		var args []byte
		if err := rows.Scan(&args); err != nil {
			b.t.Fatal(err)
		}
		var e outbox.Event
		if err := json.Unmarshal(args, &e); err != nil {
			b.t.Fatal(err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		b.t.Fatal(err)
	}
	return out
}

func types(events []outbox.Event) string {
	var out []string
	for _, e := range events {
		out = append(out, e.Type)
	}
	return strings.Join(out, " ")
}

// wantData compares an event's data with the JSON object want.
func wantData(t testing.TB, e outbox.Event, want string) {
	t.Helper()
	var got, w any
	if err := json.Unmarshal(e.Data, &got); err != nil {
		t.Fatalf("%s data %s: %v", e.Type, e.Data, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, w) {
		t.Fatalf("%s data = %s\nwant %s", e.Type, e.Data, want)
	}
}

// topUpJSON is top-up id as GET /v1/wallet/topups/{id} shows it (the
// gateway's rendering of GetTopUp).
func (b *bundle) topUpJSON(user, id string) string {
	b.t.Helper()
	resp, err := b.gateway.GetTopUp(b.as(user, false), &walletv1.GetTopUpRequest{Id: id})
	if err != nil {
		b.t.Fatal(err)
	}
	tu := resp.GetTopUp()
	return fmt.Sprintf(`{"id":%q,"checkout_session_id":%q,"amount_cents":%d,"status":%q,"created_at":%q}`, tu.GetId(),
		tu.GetCheckoutSessionId(), tu.GetAmountCents(), tu.GetStatus(), tu.GetCreatedAt().AsTime().UTC().Format(time.RFC3339))
}

// TestAPaidCheckoutPublishesTopUpPaidOnce: Stripe's completed and
// async_payment_succeeded events, each delivered again and again and at
// once, publish one topup.paid with the paid top-up as the API shows it,
// in the credit's transaction; events that credit nothing publish nothing.
func TestAPaidCheckoutPublishesTopUpPaidOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	user := uuid.NewString()
	tu := b.topUp(user, 2500)
	var wg sync.WaitGroup
	for _, typ := range []string{"checkout.session.completed", "checkout.session.async_payment_succeeded"} {
		ev := stripeevents.CheckoutSessionEvent("", typ, session(tu, user))
		for range 10 {
			wg.Go(func() {
				if err := b.deliver(ev); err != nil {
					t.Errorf("delivery: %v", err)
				}
			})
		}
	}
	wg.Wait()
	b.wantBalance(user, 2500, 0)
	got := b.events(user)
	if types(got) != "topup.paid" {
		t.Fatalf("events = %q, want one topup.paid", types(got))
	}
	wantData(t, got[0], b.topUpJSON(user, tu.GetId()))
	if !strings.Contains(string(got[0].Data), `"status":"paid"`) {
		t.Fatalf("topup.paid data %s does not say paid", got[0].Data)
	}
	// An expired session credits nothing and publishes nothing.
	other := b.topUp(user, 1000)
	b.mustDeliver(stripeevents.CheckoutSessionEvent("", "checkout.session.expired", session(other, user)))
	if n := len(b.events(user)); n != 1 {
		t.Fatalf("%d events after an expired session, want 1", n)
	}
}

// TestLowBalancePublishesOncePerCrossing: captures that leave the
// available balance below the threshold publish wallet.low_balance once
// per crossing, beside its email, with the wallet after the capture and
// the threshold; a credit re-arms it; an automatic top-up's credit,
// delivered again and again, publishes one topup.paid.
func TestLowBalancePublishesOncePerCrossing(t *testing.T) {
	t.Parallel()
	b := setup(t, withWorkers(2))
	user := uuid.NewString()
	b.fund(user, 2000)
	if _, err := b.gateway.UpdateWalletSettings(b.as(user, false), &walletv1.UpdateWalletSettingsRequest{LowBalanceThresholdCents: ptr(int64(1500))}); err != nil {
		t.Fatal(err)
	}
	b.run(user, 400) // 1600: above
	b.run(user, 200) // 1400: crosses
	b.run(user, 100) // 1300: still below, already told
	got := b.events(user)
	if types(got) != "wallet.low_balance" {
		t.Fatalf("events = %q, want one wallet.low_balance", types(got))
	}
	wantData(t, got[0], `{"wallet":{"balance_cents":1400,"held_cents":0,"available_cents":1400,"currency":"usd"},"low_balance_threshold_cents":1500}`)

	// Auto top-up at 1000: the next crossing charges the card.
	b.saveCard(user)
	b.autoTopUp(user, 1000, 2000)
	b.run(user, 400) // 900: crosses the auto top-up threshold only
	b.eventually("the automatic charge is made", func() bool { return len(b.chargesOf(user)) == 1 })
	charge := b.chargesOf(user)[0]
	for range 3 {
		b.succeed(charge)
	}
	b.wantBalance(user, 2900, 0)
	got = b.events(user)
	if types(got) != "wallet.low_balance topup.paid" {
		t.Fatalf("events = %q, want wallet.low_balance topup.paid", types(got))
	}
	var topUpID string
	if err := b.pool.QueryRow(context.Background(), "SELECT id::text FROM topups WHERE user_id = $1 AND origin = 'auto'", user).Scan(&topUpID); err != nil {
		t.Fatal(err)
	}
	wantData(t, got[1], b.topUpJSON(user, topUpID))

	// Credited above the threshold: armed again, the next fall publishes anew.
	b.run(user, 1500) // 1400
	if got = b.events(user); types(got) != "wallet.low_balance topup.paid wallet.low_balance" {
		t.Fatalf("events = %q after the balance came back and fell again", types(got))
	}
	if emails := strings.Join(b.emails(user), " "); strings.Count(emails, "low_balance") != 2 {
		t.Fatalf("emails = %q, want one low-balance email per crossing", emails)
	}
}

// TestACaptureThatRollsBackPublishesNothing: when the event cannot be
// queued the capture rolls back with it (no fee, no crossing, no email);
// its retry captures once and publishes once.
func TestACaptureThatRollsBackPublishesNothing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	user := uuid.NewString()
	b.fund(user, 1000)
	if _, err := b.gateway.UpdateWalletSettings(b.as(user, false), &walletv1.UpdateWalletSettingsRequest{LowBalanceThresholdCents: ptr(int64(900))}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	key := uuid.NewString()
	if _, err := b.workflow.Reserve(ctx, &walletv1.ReserveRequest{Key: key, UserId: user, AmountCents: 200}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.pool.Exec(ctx, `
CREATE FUNCTION refuse_events() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'no events today'; END $$;
CREATE TRIGGER refuse_events BEFORE INSERT ON river_job FOR EACH ROW WHEN (NEW.kind = 'outbox_event') EXECUTE FUNCTION refuse_events();`); err != nil {
		t.Fatal(err)
	}
	if _, err := b.workflow.Capture(ctx, &walletv1.CaptureRequest{Key: key}); err == nil {
		t.Fatal("the capture committed without its event")
	}
	b.wantBalance(user, 1000, 200)
	if n, e := b.count("SELECT count(*) FROM balance_crossings WHERE user_id = $1", user), len(b.emails(user)); n != 0 || e != 0 || len(b.events(user)) != 0 {
		t.Fatalf("after the rolled-back capture: %d crossings, %d emails, %d events", n, e, len(b.events(user)))
	}
	if _, err := b.pool.Exec(ctx, `DROP TRIGGER refuse_events ON river_job`); err != nil {
		t.Fatal(err)
	}
	for range 2 { // the retry, and a repeat of it
		if _, err := b.workflow.Capture(ctx, &walletv1.CaptureRequest{Key: key}); err != nil {
			t.Fatal(err)
		}
	}
	b.wantBalance(user, 800, 0)
	if got := types(b.events(user)); got != "wallet.low_balance" {
		t.Fatalf("events = %q, want one wallet.low_balance", got)
	}
	b.verify()
}
