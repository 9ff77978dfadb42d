package app_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"

	"github.com/meterflow/meterflow/platform/rpcerr"
	walletv1 "github.com/meterflow/meterflow/proto/gen/meterflow/wallet/v1"
	"github.com/meterflow/meterflow/services/wallet/app"
	"github.com/meterflow/meterflow/services/wallet/stripeevents"
)

// paidTopUp creates a top-up of amount for user and delivers its payment.
func (b *bundle) paidTopUp(user string, amount int64) stripeevents.Session {
	b.t.Helper()
	s := session(b.topUp(user, amount), user)
	b.mustDeliver(stripeevents.CheckoutSessionEvent("", "checkout.session.completed", s))
	return s
}

// TestDisputeHoldsReleasesAndChargesBackOnceInAnyOrder: a dispute holds
// its amount at once (available drops, balance does not); won releases
// it; lost turns it into one chargeback, whatever order and however often
// Stripe delivers created and closed.
func TestDisputeHoldsReleasesAndChargesBackOnceInAnyOrder(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for name, tc := range map[string]struct {
		events                   []string // created, won, lost
		balance, held, chargebak int64
	}{
		"created":                {[]string{"created"}, 1000, 400, 0},
		"created, won":           {[]string{"created", "won"}, 1000, 0, 0},
		"created, lost":          {[]string{"created", "lost"}, 600, 0, 1},
		"lost, created":          {[]string{"lost", "created"}, 600, 0, 1},
		"won, created":           {[]string{"won", "created"}, 1000, 0, 0},
		"created twice, lost x2": {[]string{"created", "created", "lost", "lost"}, 600, 0, 1},
		"lost, created, lost":    {[]string{"lost", "created", "lost"}, 600, 0, 1},
	} {
		func() {
			t.Logf("events: %s", name)
			user := uuid.NewString()
			s := b.paidTopUp(user, 1000)
			dp := "dp_" + uuid.NewString()[:12]
			for _, e := range tc.events {
				typ, status := "charge.dispute.closed", e
				if e == "created" {
					typ, status = "charge.dispute.created", "needs_response"
				}
				// A new event id every time: Stripe's redeliveries of one
				// transition, and separate events for it, change nothing.
				b.mustDeliver(stripeevents.DisputeEvent("", typ, dp, "ch_"+dp, s.PaymentIntentID, status, 400))
			}
			b.wantBalance(user, tc.balance, tc.held)
			if n := b.count("SELECT count(*) FROM transactions WHERE user_id = $1 AND kind = 'chargeback'", user); int64(n) != tc.chargebak {
				t.Fatalf("%s: chargebacks = %d, want %d", name, n, tc.chargebak)
			}
		}()
	}
	b.verify()
}

// TestChargebackIntoDebtFlagsAndBlocks: a lost dispute on money already
// spent takes the balance below zero: the account is flagged in debt
// (listed for operators, counted by the metric), runs are refused and no
// automatic charge is made; a top-up that brings the balance back clears it.
func TestChargebackIntoDebtFlagsAndBlocks(t *testing.T) {
	t.Parallel()
	b := setup(t, withWorkers(1))
	user := uuid.NewString()
	s := b.paidTopUp(user, 1000)
	b.saveCard(user)
	b.autoTopUp(user, 100, 1000)
	b.run(user, 800)
	dp := "dp_" + uuid.NewString()[:12]
	b.mustDeliver(stripeevents.DisputeEvent("", "charge.dispute.created", dp, "ch_1", s.PaymentIntentID, "needs_response", 1000))
	b.mustDeliver(stripeevents.DisputeEvent("", "charge.dispute.closed", dp, "ch_1", s.PaymentIntentID, "lost", 1000))
	b.wantBalance(user, -800, 0)
	debts, err := b.gateway.AdminListDebts(b.admin, &walletv1.AdminListDebtsRequest{})
	if err != nil || len(debts.GetDebts()) != 1 || debts.GetDebts()[0].GetUserId() != user || debts.GetDebts()[0].GetBalanceCents() != -800 {
		t.Fatalf("debts = %v, %v", debts, err)
	}
	if got := b.metric("wallet_accounts_in_debt").GetGauge().GetValue(); got != 1 {
		t.Fatalf("wallet_accounts_in_debt = %v", got)
	}
	_, err = b.workflow.Reserve(context.Background(), &walletv1.ReserveRequest{Key: uuid.NewString(), UserId: user, AmountCents: 10})
	wantErr(t, err, codes.FailedPrecondition, rpcerr.InsufficientFunds)
	if n := len(b.chargesOf(user)); n != 0 {
		t.Fatalf("automatic charges of an account in debt = %d", n)
	}
	b.paidTopUp(user, 1000)
	b.wantBalance(user, 200, 0)
	if n := b.count("SELECT count(*) FROM accounts WHERE user_id = $1 AND in_debt_since IS NOT NULL", user); n != 0 {
		t.Fatalf("still flagged after the balance came back")
	}
	auto, err := b.gateway.AdminGetAutomation(b.admin, &walletv1.AdminGetAutomationRequest{UserId: user})
	if err != nil || len(auto.GetDisputes()) != 1 || auto.GetDisputes()[0].GetStatus() != "lost" || auto.GetSettings().GetPaymentMethod().GetLast4() == "" {
		t.Fatalf("automation = %v, %v", auto, err)
	}
	b.verify()
}

// TestOpenDisputesListedForOperators: the admin list of open disputes.
func TestOpenDisputesListedForOperators(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var open []string
	for i := range 3 {
		user := uuid.NewString()
		s := b.paidTopUp(user, 1000)
		dp := fmt.Sprintf("dp_%d_%s", i, uuid.NewString()[:8])
		b.mustDeliver(stripeevents.DisputeEvent("", "charge.dispute.created", dp, "ch", s.PaymentIntentID, "needs_response", 100))
		if i == 0 {
			b.mustDeliver(stripeevents.DisputeEvent("", "charge.dispute.closed", dp, "ch", s.PaymentIntentID, "won", 100))
			continue
		}
		open = append(open, dp)
	}
	resp, err := b.gateway.AdminListDisputes(b.admin, &walletv1.AdminListDisputesRequest{OpenOnly: true})
	if err != nil || len(resp.GetDisputes()) != 2 || resp.GetDisputes()[0].GetStripeDisputeId() != open[1] {
		t.Fatalf("open disputes = %v, %v", resp, err)
	}
	all, err := b.gateway.AdminListDisputes(b.admin, &walletv1.AdminListDisputesRequest{Limit: 2})
	if err != nil || len(all.GetDisputes()) != 2 || all.GetNextCursor() == "" {
		t.Fatalf("first page of all = %v, %v", all, err)
	}
	_, err = b.gateway.AdminListDisputes(b.as(uuid.NewString(), false), &walletv1.AdminListDisputesRequest{})
	if !isCode(err, codes.PermissionDenied, rpcerr.Forbidden) && err == nil {
		t.Fatalf("a user listed disputes")
	}
}

// TestVerifyCoversDisputeHoldsAndAutomaticTopUps: `wallet verify` reports a
// dispute whose hold disagrees with its status, a held amount that
// disagrees with the dispute holds, and an automatic top-up without its
// crossing.
func TestVerifyCoversDisputeHoldsAndAutomaticTopUps(t *testing.T) {
	t.Parallel()
	b := setup(t)
	user := uuid.NewString()
	s := b.paidTopUp(user, 1000)
	b.mustDeliver(stripeevents.DisputeEvent("", "charge.dispute.created", "dp_v", "ch_v", s.PaymentIntentID, "needs_response", 300))
	b.verify()
	ctx := context.Background()
	for _, q := range []string{
		"UPDATE disputes SET held_cents = 100 WHERE dispute_id = 'dp_v'",
		"INSERT INTO topups (id, user_id, amount_cents, currency, status, origin) VALUES ('" + uuid.NewString() + "', '" + user + "', 500, 'usd', 'pending', 'auto')",
	} {
		if _, err := b.pool.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	bad, err := app.Verify(ctx, b.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	var problems []string
	heldMismatch := false
	for _, m := range bad {
		if m.Problem != "" {
			problems = append(problems, m.Problem)
		} else if m.HeldCents == 300 && m.DisputeHoldsCents == 100 {
			heldMismatch = true
		}
	}
	if len(problems) != 2 || !heldMismatch {
		t.Fatalf("verify = %+v", bad)
	}
}
