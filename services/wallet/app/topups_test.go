package app_test

import (
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/meterflow/meterflow/platform/rpcerr"
	walletv1 "github.com/meterflow/meterflow/proto/gen/meterflow/wallet/v1"
)

func TestCreateTopUpIdempotency(t *testing.T) {
	t.Parallel()
	b := setup(t)
	user := uuid.NewString()
	ctx := b.as(user, false)
	req := &walletv1.CreateTopUpRequest{AmountCents: 1500, IdempotencyKey: "key-1", SuccessUrl: "https://app.example.com/ok"}
	first, err := b.gateway.CreateTopUp(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	second, err := b.gateway.CreateTopUp(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(first, second) {
		t.Fatalf("replay differs:\n%v\n%v", first, second)
	}
	if n := b.count(`SELECT count(*) FROM topups WHERE user_id = $1`, user); n != 1 {
		t.Fatalf("top-ups (and so Stripe sessions) = %d, want 1", n)
	}
	// Same key, different body.
	_, err = b.gateway.CreateTopUp(ctx, &walletv1.CreateTopUpRequest{AmountCents: 2000, IdempotencyKey: "key-1", SuccessUrl: "https://app.example.com/ok"})
	wantErr(t, err, codes.FailedPrecondition, rpcerr.IdempotencyKeyReused)
	// Keys are per user: another user's same key is a new request.
	other := uuid.NewString()
	if _, err := b.gateway.CreateTopUp(b.as(other, false), req); err != nil {
		t.Fatal(err)
	}
	// No key: a new top-up every time.
	for range 2 {
		if _, err := b.gateway.CreateTopUp(ctx, &walletv1.CreateTopUpRequest{AmountCents: 1500}); err != nil {
			t.Fatal(err)
		}
	}
	if n := b.count(`SELECT count(*) FROM topups WHERE user_id = $1`, user); n != 3 {
		t.Fatalf("top-ups = %d, want 3", n)
	}
}

func TestCreateTopUpConcurrentSameKey(t *testing.T) {
	t.Parallel()
	b := setup(t)
	user := uuid.NewString()
	ctx := b.as(user, false)
	req := &walletv1.CreateTopUpRequest{AmountCents: 1000, IdempotencyKey: "same"}
	var mu sync.Mutex
	ids := map[string]bool{}
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			resp, err := b.gateway.CreateTopUp(ctx, req)
			switch {
			case err == nil:
				mu.Lock()
				ids[resp.GetTopUp().GetId()] = true
				mu.Unlock()
			case isCode(err, codes.Aborted, rpcerr.RequestInProgress):
			default:
				t.Errorf("CreateTopUp: %v", err)
			}
		})
	}
	wg.Wait()
	if len(ids) != 1 {
		t.Fatalf("distinct top-ups answered = %d, want 1", len(ids))
	}
	if n := b.count(`SELECT count(*) FROM topups WHERE user_id = $1`, user); n != 1 {
		t.Fatalf("top-ups = %d, want 1", n)
	}
}

func TestCreateTopUpValidation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := b.as(uuid.NewString(), false)
	tests := []struct {
		name  string
		req   *walletv1.CreateTopUpRequest
		field string
	}{
		{"below min", &walletv1.CreateTopUpRequest{AmountCents: 499}, "amount_cents"},
		{"above max", &walletv1.CreateTopUpRequest{AmountCents: 100001}, "amount_cents"},
		{"zero", &walletv1.CreateTopUpRequest{}, "amount_cents"},
		{"relative success url", &walletv1.CreateTopUpRequest{AmountCents: 500, SuccessUrl: "/done"}, "success_url"},
		{"javascript cancel url", &walletv1.CreateTopUpRequest{AmountCents: 500, CancelUrl: "javascript:alert(1)"}, "cancel_url"},
		{"key too long", &walletv1.CreateTopUpRequest{AmountCents: 500, IdempotencyKey: string(make([]byte, 256))}, "idempotency_key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := b.gateway.CreateTopUp(ctx, tc.req)
			wantErr(t, err, codes.InvalidArgument, rpcerr.ValidationFailed)
			if f := rpcerr.Fields(err); len(f) != 1 || f[0].Field != tc.field {
				t.Fatalf("fields = %v, want %s", f, tc.field)
			}
		})
	}
	if n := b.count(`SELECT count(*) FROM topups`); n != 0 {
		t.Fatalf("top-ups = %d", n)
	}
	for _, amount := range []int64{500, 100000} {
		if _, err := b.gateway.CreateTopUp(ctx, &walletv1.CreateTopUpRequest{AmountCents: amount}); err != nil {
			t.Fatalf("amount %d: %v", amount, err)
		}
	}
}

func TestStripeUnreachableThenRetrySameKey(t *testing.T) {
	t.Parallel()
	// A port nothing listens on.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + lis.Addr().String()
	lis.Close()
	down := setup(t, func(o *options) { o.stripeBase = closed })
	up := setup(t, func(o *options) { o.dbURL = down.dbURL; o.keys = down.keys })

	user := uuid.NewString()
	req := &walletv1.CreateTopUpRequest{AmountCents: 1000, IdempotencyKey: "retry-me"}
	_, err = down.gateway.CreateTopUp(down.as(user, false), req)
	wantErr(t, err, codes.Unavailable, rpcerr.PaymentProviderError)
	if n := down.count(`SELECT count(*) FROM topups WHERE status <> 'failed'`); n != 0 {
		t.Fatalf("top-ups left pending or paid = %d", n)
	}
	// Stripe is back (another replica on the same database): the same key works, once.
	resp, err := up.gateway.CreateTopUp(up.as(user, false), req)
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	if resp.GetTopUp().GetStatus() != "pending" || resp.GetTopUp().GetCheckoutSessionId() == "" {
		t.Fatalf("retry = %v", resp)
	}
	again, err := up.gateway.CreateTopUp(up.as(user, false), req)
	if err != nil || !proto.Equal(again, resp) {
		t.Fatalf("replay = %v, %v", again, err)
	}
	if n := up.count(`SELECT count(*) FROM topups WHERE checkout_session_id IS NOT NULL`); n != 1 {
		t.Fatalf("sessions = %d, want 1", n)
	}
	// The failed attempt's top-up stays failed and never becomes paid.
	up.wantBalance(user, 0, 0)
}

func TestGetTopUp(t *testing.T) {
	t.Parallel()
	b := setup(t)
	user := uuid.NewString()
	tu := b.topUp(user, 600)
	got, err := b.gateway.GetTopUp(b.as(user, false), &walletv1.GetTopUpRequest{Id: tu.GetId()})
	if err != nil || got.GetTopUp().GetAmountCents() != 600 || got.GetTopUp().GetStatus() != "pending" || got.GetTopUp().GetCreatedAt() == nil {
		t.Fatalf("GetTopUp = %v, %v", got, err)
	}
	for _, id := range []string{uuid.NewString(), "not-a-uuid", ""} {
		_, err := b.gateway.GetTopUp(b.as(user, false), &walletv1.GetTopUpRequest{Id: id})
		wantErr(t, err, codes.NotFound, rpcerr.NotFound)
	}
}

// A top-up's own success_url and cancel_url send the paying user somewhere
// after Checkout: only our own origins are allowed (the configured return
// pages' and CHECKOUT_ALLOWED_ORIGINS; here http://localhost:8080 and
// https://app.example.com).
func TestCreateTopUpReturnURLsOnAllowedOriginsOnly(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := b.as(uuid.NewString(), false)
	tests := []struct {
		url string
		ok  bool
	}{
		{"https://app.example.com/wallet?topup=done", true},
		{"https://APP.example.com:443/ok", true},
		{"http://localhost:8080/elsewhere", true},
		{"https://app.example.com/ok?session={CHECKOUT_SESSION_ID}", true},
		{"https://evil.example.net/phish", false},
		{"http://app.example.com/ok", false},           // another scheme is another origin
		{"https://app.example.com:8443/ok", false},     // and so is another port
		{"http://localhost:8081/topup/success", false}, // same host, other port
		{"https://app.example.com.evil.net/ok", false},
		{"https://app.example.com@evil.net/ok", false},
		{"https://user:pw@app.example.com/ok", false},
		{"//app.example.com/ok", false},
		{"/topup/success", false},
		{"javascript:alert(1)", false},
		{"https://app.example.com/" + strings.Repeat("a", 2048), false},
	}
	for _, tc := range tests {
		for _, field := range []string{"success_url", "cancel_url"} {
			t.Run(field+" "+tc.url[:min(len(tc.url), 60)], func(t *testing.T) {
				t.Parallel()
				req := &walletv1.CreateTopUpRequest{AmountCents: 500}
				if field == "success_url" {
					req.SuccessUrl = tc.url
				} else {
					req.CancelUrl = tc.url
				}
				_, err := b.gateway.CreateTopUp(ctx, req)
				if tc.ok {
					if err != nil {
						t.Fatalf("CreateTopUp: %v", err)
					}
					return
				}
				wantErr(t, err, codes.InvalidArgument, rpcerr.ValidationFailed)
				if f := rpcerr.Fields(err); len(f) != 1 || f[0].Field != field {
					t.Fatalf("fields = %v, want %s", f, field)
				}
			})
		}
	}
}

// TestTopUpIDInReturnURLs: {TOPUP_ID} in a top-up's return URLs becomes
// the new top-up's id, so the page Checkout returns to can show it;
// Stripe's own {CHECKOUT_SESSION_ID} passes through for Stripe to fill.
func TestTopUpIDInReturnURLs(t *testing.T) {
	t.Parallel()
	b := setup(t)
	resp, err := b.gateway.CreateTopUp(b.as(uuid.NewString(), false), &walletv1.CreateTopUpRequest{
		AmountCents: 700, IdempotencyKey: "k", SuccessUrl: "https://app.example.com/app/topups/{TOPUP_ID}?return=success&s={CHECKOUT_SESSION_ID}",
		CancelUrl: "https://app.example.com/app/topups/{TOPUP_ID}?return=cancel",
	})
	if err != nil {
		t.Fatal(err)
	}
	id := resp.GetTopUp().GetId()
	var got *struct{ success, cancel string }
	for _, c := range b.stripe.Checkouts() {
		if c.ID == resp.GetTopUp().GetCheckoutSessionId() && c.Metadata["topup_id"] == id {
			got = &struct{ success, cancel string }{c.SuccessURL, c.CancelURL}
		}
	}
	if got == nil {
		t.Fatalf("no Checkout Session for top-up %s among %+v", id, b.stripe.Checkouts())
	}
	if want := "https://app.example.com/app/topups/" + id + "?return=success&s={CHECKOUT_SESSION_ID}"; got.success != want {
		t.Errorf("success_url = %q, want %q", got.success, want)
	}
	if want := "https://app.example.com/app/topups/" + id + "?return=cancel"; got.cancel != want {
		t.Errorf("cancel_url = %q, want %q", got.cancel, want)
	}
}
