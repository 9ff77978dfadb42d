package wallet

import (
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/meterflow/meterflow/platform/idempotency"
)

// TestRequestHashIsUnchanged holds idempotency.Hash to the bytes the
// wallet's own requestHash produced: the hashes stored in idempotency_keys
// before the move must still match a repeat of the same request.
func TestRequestHashIsUnchanged(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		parts []any
		want  string
	}{
		{"top-up (amount, success_url, cancel_url)", []any{int64(2000), "https://app.example.com/ok", ""},
			"bf41baad2010f60f008c8f2c4344e9acfbdb51aa4d5373e0a8dd09f4c7c77a54"},
		{"adjustment (user, amount, reason)", []any{"0190b6d2-5f6e-7c3a-9d2e-3b1f4a5c6d7e", int64(-250), "refund of a failed batch"},
			"3664af4509f5cd9f138b4488bd8965c1866037fedd8b955420ac08eed7ab433e"},
	}
	for _, tc := range tests {
		if got := hex.EncodeToString(idempotency.Hash(tc.parts...)); got != tc.want {
			t.Errorf("%s: Hash = %s, want %s (the stored hashes no longer match)", tc.name, got, tc.want)
		}
	}
}

func TestKeyedRequestDecide(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	first, mine := uuid.New(), uuid.New()
	r := KeyedRequest{RequestHash: []byte("a"), ResourceID: mine, ExpiredBefore: now.Add(-48 * time.Hour), StaleBefore: now.Add(-5 * time.Minute)}
	stored := func(hash string, completed bool, created, updated time.Time) StoredKey {
		return StoredKey{Record: idempotency.Record{RequestHash: []byte(hash), Completed: completed, CreatedAt: created, UpdatedAt: updated},
			ResourceID: first, Response: []byte("first")}
	}
	tests := []struct {
		name   string
		stored StoredKey
		want   KeyState
		err    error
	}{
		{"completed: replay the first", stored("a", true, now, now), KeyState{Replay: true, Response: []byte("first"), ResourceID: first}, nil},
		{"another request", stored("b", true, now, now), KeyState{}, idempotency.ErrKeyReused},
		{"still running", stored("a", false, now, now), KeyState{}, idempotency.ErrInProgress},
		{"abandoned: take over with the first resource", stored("a", false, now.Add(-time.Hour), now.Add(-time.Hour)), KeyState{Claim: true, ResourceID: first}, nil},
		{"expired: start afresh with my resource", stored("b", true, now.Add(-49*time.Hour), now.Add(-49*time.Hour)), KeyState{Claim: true, Renew: true, ResourceID: mine}, nil},
	}
	for _, tc := range tests {
		got, err := r.Decide(tc.stored)
		if !errors.Is(err, tc.err) || got.Replay != tc.want.Replay || string(got.Response) != string(tc.want.Response) ||
			got.ResourceID != tc.want.ResourceID || got.Claim != tc.want.Claim || got.Renew != tc.want.Renew {
			t.Errorf("%s: Decide = %+v, %v; want %+v, %v", tc.name, got, err, tc.want, tc.err)
		}
	}
}

func TestSettle(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status, to string
		apply      bool
		err        error
	}{
		{HoldHeld, HoldCaptured, true, nil},
		{HoldHeld, HoldReleased, true, nil},
		{HoldCaptured, HoldCaptured, false, nil},
		{HoldReleased, HoldReleased, false, nil},
		{HoldReleased, HoldCaptured, false, ErrHoldConflict},
		{HoldCaptured, HoldReleased, false, ErrHoldConflict},
	}
	for _, tc := range tests {
		apply, err := settle(Hold{Status: tc.status}, tc.to)
		if apply != tc.apply || !errors.Is(err, tc.err) {
			t.Errorf("settle(%s → %s) = %v, %v; want %v, %v", tc.status, tc.to, apply, err, tc.apply, tc.err)
		}
	}
}

func TestFeeFor(t *testing.T) {
	t.Parallel()
	h := Hold{ID: uuid.New(), AmountCents: 25, ReferenceType: "run", ReferenceID: "r1"}
	id := uuid.New()
	fee := feeFor(h, id)
	if fee.ID != id || fee.Kind != KindFee || fee.AmountCents != -25 || fee.Description != "Workflow run fee" ||
		fee.ReferenceType != "run" || fee.ReferenceID != "r1" || fee.SourceKey != "fee:"+h.ID.String() {
		t.Fatalf("feeFor = %+v", fee)
	}
	h.Description = "Run of invoice-sync"
	if got := feeFor(h, id).Description; got != h.Description {
		t.Fatalf("description = %q, want the hold's", got)
	}
}

func TestDecideAdjustment(t *testing.T) {
	t.Parallel()
	actor, user := uuid.New(), uuid.New()
	w := Wallet{UserID: user, BalanceCents: 1000, HeldCents: 300}
	tests := []struct {
		name   string
		amount int64
		err    error
		after  string
	}{
		{"credit", 500, nil, `{"balance_cents":1500,"held_cents":300}`},
		{"debit of the whole available balance", -700, nil, `{"balance_cents":300,"held_cents":300}`},
		{"debit into held funds", -701, ErrInsufficientFunds, ""},
		{"debit of the whole balance", -1000, ErrInsufficientFunds, ""},
	}
	for _, tc := range tests {
		a, err := decideAdjustment(w, actor, tc.amount, "clawback", uuid.New(), uuid.New())
		if !errors.Is(err, tc.err) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.err)
			continue
		}
		if err != nil {
			continue
		}
		e, ev := a.Entry, a.Audit
		if e.Kind != KindAdjustment || e.AmountCents != tc.amount || e.Description != "clawback" || e.ReferenceType != "admin" || e.ReferenceID != actor.String() {
			t.Errorf("%s: entry = %+v", tc.name, e)
		}
		if ev.Action != "wallet.adjust" || ev.ActorID != actor || ev.TargetType != "user" || ev.TargetID != user.String() ||
			string(ev.Before) != `{"balance_cents":1000,"held_cents":300}` || string(ev.After) != tc.after {
			t.Errorf("%s: audit = %+v (before %s after %s)", tc.name, ev, ev.Before, ev.After)
		}
	}
}
