package drills

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/meterflow/meterflow/services/wallet/stripeevents"
)

// retryable reports whether an answer may be retried (with the same
// idempotency key): transport errors and 5xx other than 502.
func retryable(r response) bool {
	return r.err != nil || r.status == 503 || r.status == 500 || r.status == 504 || (r.status == 409 && r.json()["code"] == "request_in_progress")
}

func (b *bank) topUp(ctx context.Context, u *bankUser) {
	b.count("topup")
	amount := int64(500 + rand.IntN(1500))
	key := "topup-" + uuid.NewString()
	var r response
	for attempt := range 4 {
		if attempt > 0 {
			time.Sleep(time.Duration(100*attempt) * time.Millisecond)
		}
		start := time.Now()
		r = b.s.do(ctx, "POST", "/v1/wallet/topups", u.token, map[string]any{"amount_cents": amount}, map[string]string{"Idempotency-Key": key})
		b.timed("POST /v1/wallet/topups", start)
		if !retryable(r) {
			break
		}
	}
	if r.status != 201 {
		b.count("topup_error")
		return
	}
	m := r.json()
	op := &topUpOp{user: u, id: m["id"].(string), session: m["checkout_session_id"].(string), amount: amount, pi: "pi_" + uuid.NewString()}
	b.mu.Lock()
	b.topUps = append(b.topUps, op)
	b.mu.Unlock()
	sess := stripeevents.Session{ID: op.session, TopUpID: op.id, UserID: u.id, AmountTotal: amount, Currency: "usd", PaymentIntentID: op.pi}
	var events []delivery
	if rand.IntN(3) == 0 {
		// Delayed payment: completed unpaid, then async_payment_succeeded.
		unpaid := sess
		unpaid.PaymentStatus = "unpaid"
		paid := sess
		paid.PaymentStatus = "paid"
		events = append(events,
			delivery{payload: stripeevents.CheckoutSessionEvent("", "checkout.session.completed", unpaid), topUp: op},
			delivery{payload: stripeevents.CheckoutSessionEvent("", "checkout.session.async_payment_succeeded", paid), crediting: true, topUp: op})
	} else {
		sess.PaymentStatus = "paid"
		events = append(events, delivery{payload: stripeevents.CheckoutSessionEvent("", "checkout.session.completed", sess), crediting: true, topUp: op})
	}
	// Duplicates (Stripe delivers at least once) and reordering.
	for _, e := range events {
		if rand.IntN(3) == 0 {
			events = append(events, e)
		}
	}
	rand.Shuffle(len(events), func(i, j int) { events[i], events[j] = events[j], events[i] })
	for _, e := range events {
		if rand.IntN(3) == 0 {
			b.mu.Lock()
			b.later = append(b.later, e)
			b.mu.Unlock()
			continue
		}
		b.deliver(ctx, e)
	}
}

// deliver posts a signed event like Stripe does: retried (bounded) until
// it is acknowledged with 200.
func (b *bank) deliver(ctx context.Context, d delivery) {
	b.count("webhook")
	for attempt := range 6 {
		if attempt > 0 {
			time.Sleep(time.Duration(150*attempt) * time.Millisecond)
		}
		start := time.Now()
		r := b.s.do(ctx, "POST", "/v1/webhooks/stripe", "", d.payload,
			map[string]string{"Stripe-Signature": stripeevents.Sign(d.payload, webhookSecret, time.Now())})
		b.timed("POST /v1/webhooks/stripe", start)
		if r.status == 200 {
			if d.crediting {
				d.topUp.credited.Store(true)
			}
			return
		}
		if r.err == nil && r.status < 500 {
			b.violate("webhook for top-up %s answered %d %s", d.topUp.id, r.status, r.body)
			return
		}
	}
	b.count("webhook_gave_up")
}

func (b *bank) deliverLater(ctx context.Context) {
	b.mu.Lock()
	if len(b.later) == 0 {
		b.mu.Unlock()
		return
	}
	i := rand.IntN(len(b.later))
	d := b.later[i]
	b.later = append(b.later[:i], b.later[i+1:]...)
	b.mu.Unlock()
	b.deliver(ctx, d)
}

// refund sends charge.refunded for one credited top-up of u (once per top-up,
// possibly duplicated).
func (b *bank) refund(ctx context.Context, u *bankUser) {
	b.mu.Lock()
	var op *topUpOp
	for _, t := range b.topUps {
		if t.user == u && t.credited.Load() && t.refund == 0 {
			op = t
			op.refund = 100 + int64(rand.IntN(300))
			break
		}
	}
	b.mu.Unlock()
	if op == nil {
		return
	}
	b.count("refund")
	ev := stripeevents.ChargeRefundedEvent("", "ch_"+op.pi[3:], op.pi, op.amount, op.refund)
	for range 1 + rand.IntN(2) {
		acked := false
		for attempt := range 6 {
			if attempt > 0 {
				time.Sleep(time.Duration(150*attempt) * time.Millisecond)
			}
			r := b.s.do(ctx, "POST", "/v1/webhooks/stripe", "", ev, map[string]string{"Stripe-Signature": stripeevents.Sign(ev, webhookSecret, time.Now())})
			if r.status == 200 {
				acked = true
				break
			}
			if r.err == nil && r.status < 500 {
				b.violate("refund webhook for top-up %s answered %d %s", op.id, r.status, r.body)
				return
			}
		}
		if acked {
			op.refundOK.Store(true)
		} else {
			op.refundErr.Store(true)
		}
	}
}

func (b *bank) runOnce(ctx context.Context, u *bankUser) {
	slugs := []string{"instant", "instant", "failing", "slow", "flaky"}
	slug := slugs[rand.IntN(len(slugs))]
	async := rand.IntN(5) == 0
	path := "/v1/workflows/" + slug + "/runs"
	if async {
		path += "?async=true"
	}
	b.count("run")
	headers := map[string]string{}
	withKey := rand.IntN(3) == 0
	if withKey {
		headers["Idempotency-Key"] = "run-" + uuid.NewString()
	}
	var r response
	for attempt := range 3 {
		if attempt > 0 {
			time.Sleep(time.Duration(200*attempt) * time.Millisecond)
		}
		start := time.Now()
		r = b.s.do(ctx, "POST", path, u.token, map[string]any{"input": map[string]any{"n": rand.IntN(1000)}}, headers)
		b.timed("POST /v1/workflows/{slug}/runs", start)
		// Only a request with an idempotency key may be sent again: without
		// one a retry could pay twice.
		if !withKey || !retryable(r) {
			break
		}
	}
	op := &runOp{user: u, slug: slug}
	m := r.json()
	switch {
	case r.status == 200:
		op.id, op.outcome = m["id"].(string), m["status"].(string)
	case r.status == 202:
		op.id, op.outcome = m["id"].(string), "queued"
	case r.status == 502 && m["code"] == "workflow_failed":
		op.id, op.outcome = m["run"].(map[string]any)["id"].(string), "failed"
	case r.status == 402:
		op.outcome = "insufficient"
	default:
		op.outcome = "error"
		if r.err == nil && !isProblem(r) {
			b.violate("run answered %d without a problem document: %s", r.status, r.body)
		}
	}
	b.mu.Lock()
	b.runs = append(b.runs, op)
	b.mu.Unlock()
}

func (b *bank) adjust(ctx context.Context, u *bankUser) {
	b.count("adjustment")
	amount := int64(100 + rand.IntN(900))
	if rand.IntN(10) < 3 {
		amount = -int64(50 + rand.IntN(450))
	}
	op := &adjOp{user: u, amount: amount, reason: "drill " + uuid.NewString(), txIDs: map[string]bool{}}
	key := "adj-" + uuid.NewString()
	send := func() {
		for attempt := range 4 {
			if attempt > 0 {
				time.Sleep(time.Duration(100*attempt) * time.Millisecond)
			}
			start := time.Now()
			r := b.s.do(ctx, "POST", "/v1/admin/users/"+u.id+"/adjustments", b.admin,
				map[string]any{"amount_cents": amount, "reason": op.reason}, map[string]string{"Idempotency-Key": key})
			b.timed("POST /v1/admin/users/{id}/adjustments", start)
			b.mu.Lock()
			op.attempts++
			switch {
			case r.status == 201:
				op.ok = true
				op.txIDs[r.json()["id"].(string)] = true
			case r.status == 422 && r.json()["code"] == "insufficient_funds":
				op.refused = true
			}
			b.mu.Unlock()
			if !retryable(r) {
				return
			}
		}
	}
	send()
	if rand.IntN(4) == 0 {
		// Replays: the same key and body, twice at once.
		b.count("adjustment_replay")
		var wg sync.WaitGroup
		wg.Go(send)
		wg.Go(send)
		wg.Wait()
	}
	b.mu.Lock()
	b.adjs = append(b.adjs, op)
	b.mu.Unlock()
}

func (b *bank) read(ctx context.Context, u *bankUser) {
	b.count("read")
	start := time.Now()
	r := b.s.do(ctx, "GET", "/v1/wallet", u.token, nil, nil)
	b.timed("GET /v1/wallet", start)
	if r.status != 200 {
		if r.err == nil && !isProblem(r) {
			b.violate("GET /v1/wallet answered %d without a problem document: %s", r.status, r.body)
		}
		return
	}
	m := r.json()
	bal, held, avail := int64(m["balance_cents"].(float64)), int64(m["held_cents"].(float64)), int64(m["available_cents"].(float64))
	if held < 0 || avail != bal-held {
		b.violate("user %s read balance %d held %d available %d", u.id, bal, held, avail)
	}
	if !u.refunder && (bal < 0 || avail < 0) {
		b.violate("user %s (no refunds) read a negative balance %d / available %d", u.id, bal, avail)
	}
}

// summary is the counts of a run, for the report.
