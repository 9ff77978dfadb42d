package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/meterflow/meterflow/platform/rpcerr"
	walletv1 "github.com/meterflow/meterflow/proto/gen/meterflow/wallet/v1"
	"github.com/meterflow/meterflow/services/wallet/app"
)

func TestAdjustBalance(t *testing.T) {
	t.Parallel()
	b := setup(t)
	user := uuid.NewString()
	adminID := uuid.NewString()
	admin := b.as(adminID, true)
	req := &walletv1.AdminAdjustBalanceRequest{UserId: user, AmountCents: 500, Reason: "goodwill credit", IdempotencyKey: "adj-1"}

	// Concurrent repeats of one keyed adjustment apply it once and all answer with it.
	var wg sync.WaitGroup
	ids := make([]string, 10)
	for i := range 10 {
		wg.Go(func() {
			resp, err := b.gateway.AdminAdjustBalance(admin, req)
			if err != nil {
				t.Errorf("AdjustBalance: %v", err)
				return
			}
			ids[i] = resp.GetTransaction().GetId()
		})
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("answers name different transactions: %v", ids)
		}
	}
	b.wantBalance(user, 500, 0)
	_, err := b.gateway.AdminAdjustBalance(admin, &walletv1.AdminAdjustBalanceRequest{UserId: user, AmountCents: 600, Reason: "goodwill credit", IdempotencyKey: "adj-1"})
	wantErr(t, err, codes.FailedPrecondition, rpcerr.IdempotencyKeyReused)

	// A debit beyond the available balance is refused and writes nothing.
	if _, err := b.workflow.Reserve(context.Background(), &walletv1.ReserveRequest{Key: "h", UserId: user, AmountCents: 100}); err != nil {
		t.Fatal(err)
	}
	_, err = b.gateway.AdminAdjustBalance(admin, &walletv1.AdminAdjustBalanceRequest{UserId: user, AmountCents: -401, Reason: "clawback", IdempotencyKey: "adj-2"})
	wantErr(t, err, codes.FailedPrecondition, rpcerr.InsufficientFunds)
	debit, err := b.gateway.AdminAdjustBalance(admin, &walletv1.AdminAdjustBalanceRequest{UserId: user, AmountCents: -400, Reason: "clawback", IdempotencyKey: "adj-2"})
	if err != nil {
		t.Fatalf("debit after the refused one with the same key: %v", err)
	}
	tx := debit.GetTransaction()
	if tx.GetKind() != "adjustment" || tx.GetAmountCents() != -400 || tx.GetBalanceAfterCents() != 100 || tx.GetDescription() != "clawback" || tx.GetUserId() != user {
		t.Fatalf("debit = %v", tx)
	}
	b.wantBalance(user, 100, 100)

	events, err := b.gateway.AdminListAuditEvents(admin, &walletv1.AdminListAuditEventsRequest{TargetId: user})
	if err != nil || len(events.GetEvents()) != 2 {
		t.Fatalf("audit = %v, %v", events, err)
	}
	ev := events.GetEvents()[0]
	var before, after map[string]int64
	if json.Unmarshal(ev.GetBeforeJson(), &before) != nil || json.Unmarshal(ev.GetAfterJson(), &after) != nil {
		t.Fatalf("audit json: %s %s", ev.GetBeforeJson(), ev.GetAfterJson())
	}
	if ev.GetAction() != "wallet.adjust" || ev.GetActorId() != adminID || ev.GetTargetType() != "user" || ev.GetReason() != "clawback" ||
		before["balance_cents"] != 500 || after["balance_cents"] != 100 || after["held_cents"] != 100 {
		t.Fatalf("newest audit event = %v (before %v after %v)", ev, before, after)
	}
	b.verify()
}

func TestAdjustBalanceValidation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	user := uuid.NewString()
	tests := []struct {
		name  string
		req   *walletv1.AdminAdjustBalanceRequest
		field string
	}{
		{"zero", &walletv1.AdminAdjustBalanceRequest{UserId: user, Reason: "x", IdempotencyKey: "k"}, "amount_cents"},
		{"no reason", &walletv1.AdminAdjustBalanceRequest{UserId: user, AmountCents: 5, Reason: "  ", IdempotencyKey: "k"}, "reason"},
		{"long reason", &walletv1.AdminAdjustBalanceRequest{UserId: user, AmountCents: 5, Reason: strings.Repeat("é", 501), IdempotencyKey: "k"}, "reason"},
		{"bad user", &walletv1.AdminAdjustBalanceRequest{UserId: "nope", AmountCents: 5, Reason: "x", IdempotencyKey: "k"}, "user_id"},
		{"no idempotency key", &walletv1.AdminAdjustBalanceRequest{UserId: user, AmountCents: 5, Reason: "x"}, "idempotency_key"},
		{"credit over the cap", &walletv1.AdminAdjustBalanceRequest{UserId: user, AmountCents: 1_000_001, Reason: "x", IdempotencyKey: "k"}, "amount_cents"},
		{"debit over the cap", &walletv1.AdminAdjustBalanceRequest{UserId: user, AmountCents: -1_000_001, Reason: "x", IdempotencyKey: "k"}, "amount_cents"},
		{"far over the cap", &walletv1.AdminAdjustBalanceRequest{UserId: user, AmountCents: math.MinInt64, Reason: "x", IdempotencyKey: "k"}, "amount_cents"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := b.gateway.AdminAdjustBalance(b.admin, tc.req)
			wantErr(t, err, codes.InvalidArgument, rpcerr.ValidationFailed)
			if f := rpcerr.Fields(err); len(f) != 1 || f[0].Field != tc.field {
				t.Fatalf("fields = %v, want %s", f, tc.field)
			}
		})
	}
	// The cap itself is allowed, either way.
	for i, amount := range []int64{1_000_000, -1_000_000} {
		if _, err := b.gateway.AdminAdjustBalance(b.admin, &walletv1.AdminAdjustBalanceRequest{UserId: user, AmountCents: amount, Reason: "at the cap", IdempotencyKey: fmt.Sprint("cap-", i)}); err != nil {
			t.Fatalf("adjust %d: %v", amount, err)
		}
	}
	b.wantBalance(user, 0, 0)
	if n := b.count(`SELECT count(*) FROM transactions`); n != 2 {
		t.Fatalf("ledger rows = %d, want the 2 at the cap", n)
	}
}

// The user sees "Adjustment" and no reference: the reason and the admin's
// id are internal. Admins see both.
func TestUsersSeeAdjustmentWithoutAdminDetails(t *testing.T) {
	t.Parallel()
	b := setup(t)
	user, adminID := uuid.NewString(), uuid.NewString()
	reason := "goodwill: ticket #4711, customer was rude"
	adj, err := b.gateway.AdminAdjustBalance(b.as(adminID, true), &walletv1.AdminAdjustBalanceRequest{UserId: user, AmountCents: 250, Reason: reason, IdempotencyKey: "a"})
	if err != nil {
		t.Fatal(err)
	}
	if tx := adj.GetTransaction(); tx.GetDescription() != reason || tx.GetReferenceType() != "admin" || tx.GetReferenceId() != adminID {
		t.Fatalf("the admin's answer = %v", tx)
	}
	for _, kind := range []string{"", "adjustment"} {
		own, err := b.gateway.ListTransactions(b.as(user, false), &walletv1.ListTransactionsRequest{Kind: kind})
		if err != nil || len(own.GetTransactions()) != 1 {
			t.Fatalf("user's list = %v, %v", own, err)
		}
		tx := own.GetTransactions()[0]
		if tx.GetDescription() != "Adjustment" || tx.GetReferenceType() != "" || tx.GetReferenceId() != "" ||
			tx.GetAmountCents() != 250 || tx.GetBalanceAfterCents() != 250 || tx.GetId() != adj.GetTransaction().GetId() {
			t.Fatalf("the user sees %v", tx)
		}
	}
	all, err := b.gateway.AdminListTransactions(b.admin, &walletv1.AdminListTransactionsRequest{UserId: user})
	if err != nil || len(all.GetTransactions()) != 1 {
		t.Fatalf("admin list = %v, %v", all, err)
	}
	if tx := all.GetTransactions()[0]; tx.GetDescription() != reason || tx.GetReferenceType() != "admin" || tx.GetReferenceId() != adminID {
		t.Fatalf("the admin sees %v", tx)
	}
}

func TestListsPageNewestFirst(t *testing.T) {
	t.Parallel()
	b := setup(t)
	alice, bob := uuid.NewString(), uuid.NewString()
	for i := range 5 {
		b.fund(alice, int64(100+i))
	}
	if _, err := b.gateway.AdminAdjustBalance(b.admin, &walletv1.AdminAdjustBalanceRequest{UserId: bob, AmountCents: 777, Reason: "special refund R-42", IdempotencyKey: "adj-bob"}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.workflow.Reserve(context.Background(), &walletv1.ReserveRequest{Key: "f", UserId: alice, AmountCents: 50, Description: "run of invoice-bot"}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.workflow.Capture(context.Background(), &walletv1.CaptureRequest{Key: "f"}); err != nil {
		t.Fatal(err)
	}

	var amounts []int64
	cursor := ""
	for page := 0; ; page++ {
		resp, err := b.gateway.ListTransactions(b.as(alice, false), &walletv1.ListTransactionsRequest{Limit: 2, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, tx := range resp.GetTransactions() {
			amounts = append(amounts, tx.GetAmountCents())
		}
		if cursor = resp.GetNextCursor(); cursor == "" {
			break
		}
		if page > 5 {
			t.Fatal("pagination does not end")
		}
	}
	if fmt.Sprint(amounts) != "[-50 104 103 102 101 100]" {
		t.Fatalf("amounts newest first = %v", amounts)
	}
	fees, err := b.gateway.ListTransactions(b.as(alice, false), &walletv1.ListTransactionsRequest{Kind: "fee"})
	if err != nil || len(fees.GetTransactions()) != 1 || fees.GetTransactions()[0].GetDescription() != "run of invoice-bot" {
		t.Fatalf("fees = %v, %v", fees, err)
	}
	for _, bad := range []*walletv1.ListTransactionsRequest{{Kind: "gift"}, {Limit: 201}, {Limit: -1}, {Cursor: "!!"}, {Cursor: "e30"}} {
		_, err := b.gateway.ListTransactions(b.as(alice, false), bad)
		wantErr(t, err, codes.InvalidArgument, rpcerr.ValidationFailed)
	}

	// Admin listing: filters by user, kind, text and time.
	all, err := b.gateway.AdminListTransactions(b.admin, &walletv1.AdminListTransactionsRequest{})
	if err != nil || len(all.GetTransactions()) != 7 {
		t.Fatalf("admin all = %d, %v", len(all.GetTransactions()), err)
	}
	q, err := b.gateway.AdminListTransactions(b.admin, &walletv1.AdminListTransactionsRequest{Query: "r-42"})
	if err != nil || len(q.GetTransactions()) != 1 || q.GetTransactions()[0].GetUserId() != bob {
		t.Fatalf("admin query = %v, %v", q, err)
	}
	byUser, err := b.gateway.AdminListTransactions(b.admin, &walletv1.AdminListTransactionsRequest{UserId: alice, Kind: "adjustment", Limit: 3})
	if err != nil || len(byUser.GetTransactions()) != 3 || byUser.GetNextCursor() == "" {
		t.Fatalf("admin by user = %v, %v", byUser, err)
	}
	future, err := b.gateway.AdminListTransactions(b.admin, &walletv1.AdminListTransactionsRequest{CreatedFrom: timestamppb.New(time.Now().Add(time.Hour))})
	if err != nil || len(future.GetTransactions()) != 0 {
		t.Fatalf("admin future = %v, %v", future, err)
	}

	// Wallets: unknown users get zero wallets, in request order.
	ghost := uuid.NewString()
	ws, err := b.gateway.AdminGetWallets(b.admin, &walletv1.AdminGetWalletsRequest{UserIds: []string{ghost, alice}})
	if err != nil || len(ws.GetWallets()) != 2 || ws.GetWallets()[0].GetUserId() != ghost || ws.GetWallets()[0].GetBalanceCents() != 0 ||
		ws.GetWallets()[0].GetCurrency() != "usd" || ws.GetWallets()[1].GetBalanceCents() != 460 {
		t.Fatalf("wallets = %v, %v", ws, err)
	}
	stats, err := b.gateway.AdminGetStats(b.admin, &walletv1.AdminGetStatsRequest{})
	if err != nil || stats.GetTotalBalanceCents() != 460+777 || stats.GetFeesTodayCents() != 50 || stats.GetOpenHoldsCount() != 0 {
		t.Fatalf("stats = %v, %v", stats, err)
	}
	b.verify()
}

func TestLedgerIsAppendOnly(t *testing.T) {
	t.Parallel()
	b := setup(t)
	user := uuid.NewString()
	b.fund(user, 100)
	ctx := context.Background()
	for _, sql := range []string{
		`UPDATE transactions SET amount_cents = 1000000`,
		`DELETE FROM transactions`,
		`TRUNCATE transactions CASCADE`,
	} {
		if _, err := b.pool.Exec(ctx, sql); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Fatalf("%s: err = %v, want refusal", sql, err)
		}
	}
	b.wantBalance(user, 100, 0)
}

func TestVerifyFindsMismatches(t *testing.T) {
	t.Parallel()
	b := setup(t)
	user := uuid.NewString()
	b.fund(user, 100)
	b.verify()
	if _, err := b.pool.Exec(context.Background(), `UPDATE accounts SET balance_cents = balance_cents + 1`); err != nil {
		t.Fatal(err)
	}
	bad, err := app.Verify(context.Background(), b.dbURL)
	if err != nil || len(bad) != 1 || bad[0].BalanceCents != 101 || bad[0].LedgerCents != 100 {
		t.Fatalf("Verify = %+v, %v", bad, err)
	}
}
