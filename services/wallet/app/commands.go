package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/meterflow/meterflow/platform/database"
	"github.com/meterflow/meterflow/platform/paging"
	"github.com/meterflow/meterflow/services/wallet/internal/postgres"
	"github.com/meterflow/meterflow/services/wallet/internal/wallet"
	"github.com/meterflow/meterflow/services/wallet/stripeevents"
)

// Mismatch is an account that breaks a ledger invariant (see Verify).
type Mismatch = wallet.Mismatch

// Verify checks every account of the database at databaseURL: the sum of its
// ledger equals its balance, its held amount equals the sum of its open
// holds, and its balance is not negative unless a withdrawal or chargeback
// touched it; and every API key's month: its spend equals the sum of its
// held and captured holds and does not exceed the limit stored with it. It
// returns what fails (Mismatch.KeySpend set for a key's month); `wallet
// verify` exits non-zero when there is any.
func Verify(ctx context.Context, databaseURL string) ([]Mismatch, error) {
	pool, err := database.Open(ctx, databaseURL)
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	m, err := postgres.New(pool).Verify(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the ledger: %w", err)
	}
	return m, nil
}

// TopUp is a Stripe Checkout top-up (see ParkedTopUps).
type TopUp = wallet.TopUp

// parkedPage is how many parked top-ups ParkedTopUps reads per query.
const parkedPage = 500

// ParkedTopUps returns every parked top-up of the database at databaseURL,
// most recently parked first: top-ups for which Stripe reported another
// currency, which wait for an operator (`wallet parked`; README, "Parked
// top-ups").
func ParkedTopUps(ctx context.Context, databaseURL string) ([]TopUp, error) {
	pool, err := database.Open(ctx, databaseURL)
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	store := postgres.New(pool)
	var out []TopUp
	var after paging.Cursor
	for {
		page, err := store.ListParkedTopUps(ctx, after, parkedPage)
		if err != nil {
			return nil, fmt.Errorf("list parked top-ups: %w", err)
		}
		out = append(out, page...)
		if len(page) < parkedPage {
			return out, nil
		}
		last := page[len(page)-1]
		after = paging.Cursor{CreatedAt: last.ParkedAt, ID: last.ID}
	}
}

// DevPay finishes a pending top-up without Stripe: it reads the top-up from
// the wallet database and posts a checkout.session.completed event for it,
// signed with cfg.StripeWebhookSecret, to webhookURL (the gateway's
// /v1/webhooks/stripe). It returns the HTTP status of the answer.
func DevPay(ctx context.Context, cfg Config, topUpID, webhookURL string) (int, error) {
	id, err := uuid.Parse(topUpID)
	if err != nil {
		return 0, fmt.Errorf("--topup must be a top-up id (UUID): %w", err)
	}
	if cfg.StripeWebhookSecret == "" {
		return 0, errors.New("STRIPE_WEBHOOK_SECRET is empty")
	}
	pool, err := database.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return 0, err
	}
	defer pool.Close()
	t, err := postgres.New(pool).GetTopUp(ctx, id)
	if err != nil {
		return 0, fmt.Errorf("top-up %s: %w", id, err)
	}
	if t.Status != wallet.TopUpPending || t.CheckoutSessionID == "" {
		return 0, fmt.Errorf("top-up %s is %s (session %q); only a pending top-up with a session can be paid", id, t.Status, t.CheckoutSessionID)
	}
	payload := stripeevents.CheckoutSessionEvent("", "checkout.session.completed", stripeevents.Session{
		ID: t.CheckoutSessionID, TopUpID: t.ID.String(), UserID: t.UserID.String(), AmountTotal: t.AmountCents,
		Currency: t.Currency, PaymentStatus: "paid", PaymentIntentID: "pi_dev_" + t.ID.String(),
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, webhookURL, bytes.NewReader(payload))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Stripe-Signature", stripeevents.Sign(payload, cfg.StripeWebhookSecret, time.Now()))
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return 0, fmt.Errorf("post to %s: %w", webhookURL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, fmt.Errorf("webhook answered %s: %s", resp.Status, bytes.TrimSpace(body))
	}
	return resp.StatusCode, nil
}

// ReconcileReport is what `wallet reconcile` found.
type ReconcileReport = wallet.ReconcileReport

// Reconcile lists the Stripe events created since since through Stripe's
// API and applies those the webhook missed, through the same exactly-once
// path (`wallet reconcile`). It builds the wallet as serve does, without
// serving and without working the job queue: charges it queues (none: a
// reconciliation books credits, failures and disputes) wait for a replica.
func Reconcile(ctx context.Context, cfg Config, since time.Time, log *slog.Logger) (ReconcileReport, error) {
	cfg.JobWorkers, cfg.MetricsAddr = 0, ""
	a, err := New(ctx, cfg, log)
	if err != nil {
		return ReconcileReport{}, err
	}
	defer a.Close()
	return a.Wallet.Reconcile(ctx, since)
}
