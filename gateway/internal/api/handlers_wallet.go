package api

import (
	"bytes"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"github.com/meterflow/meterflow/gateway/internal/problem"
	"github.com/meterflow/meterflow/platform/rpcerr"
	walletv1 "github.com/meterflow/meterflow/proto/gen/meterflow/wallet/v1"
)

// Transaction kinds of the contract, for the ?kind= filters.
var transactionKinds = []string{"deposit", "fee", "withdrawal", "chargeback", "adjustment"}

// stripeWebhookTimeout bounds the wallet's handling of one Stripe event;
// Stripe itself waits about 20 s before it counts a delivery as failed.
const stripeWebhookTimeout = 10 * time.Second

func (s *Server) getWallet(c *fiber.Ctx) error {
	ctx, cancel := s.callCtx(c, 0)
	defer cancel()
	resp, err := s.d.Wallet.GetWallet(ctx, &walletv1.GetWalletRequest{})
	if err != nil {
		return err
	}
	return c.JSON(toWallet(resp.GetWallet()))
}

func (s *Server) listTransactions(c *fiber.Ctx) error {
	limit, cursor, err := listParams(c)
	if err != nil {
		return err
	}
	kind, err := oneOf(c, "kind", transactionKinds...)
	if err != nil {
		return err
	}
	ctx, cancel := s.callCtx(c, 0)
	defer cancel()
	resp, err := s.d.Wallet.ListTransactions(ctx, &walletv1.ListTransactionsRequest{Kind: kind, Limit: limit, Cursor: cursor})
	if err != nil {
		return err
	}
	return c.JSON(newList(toTransactions(resp.GetTransactions(), false), resp.GetNextCursor()))
}

type topUpBody struct {
	AmountCents *int64 `json:"amount_cents"`
	SuccessURL  string `json:"success_url"`
	CancelURL   string `json:"cancel_url"`
}

func (s *Server) createTopUp(c *fiber.Ctx) error {
	key, err := idempotencyKey(c)
	if err != nil {
		return err
	}
	var b topUpBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	if b.AmountCents == nil {
		return validationField("amount_cents", "required")
	}
	ctx, cancel := s.callCtx(c, 0)
	defer cancel()
	resp, err := s.d.Wallet.CreateTopUp(ctx, &walletv1.CreateTopUpRequest{
		AmountCents: *b.AmountCents, SuccessUrl: b.SuccessURL, CancelUrl: b.CancelURL, IdempotencyKey: key,
	})
	if err != nil {
		return err
	}
	t := resp.GetTopUp()
	return c.Status(http.StatusCreated).JSON(topUpCreatedJSON{
		ID: t.GetId(), CheckoutSessionID: t.GetCheckoutSessionId(), CheckoutURL: t.GetCheckoutUrl(),
		AmountCents: t.GetAmountCents(), Status: t.GetStatus(),
	})
}

func (s *Server) getTopUp(c *fiber.Ctx) error {
	id, err := pathUUID(c, "id")
	if err != nil {
		return err
	}
	ctx, cancel := s.callCtx(c, 0)
	defer cancel()
	resp, err := s.d.Wallet.GetTopUp(ctx, &walletv1.GetTopUpRequest{Id: id})
	if err != nil {
		return err
	}
	t := resp.GetTopUp()
	return c.JSON(topUpJSON{
		ID: t.GetId(), CheckoutSessionID: t.GetCheckoutSessionId(), AmountCents: t.GetAmountCents(),
		Status: t.GetStatus(), CreatedAt: timeJSON(t.GetCreatedAt()),
	})
}

// stripeWebhook passes the raw body and signature to the wallet, which
// verifies and applies the event. Any wallet failure is a 5xx, so Stripe
// delivers the event again.
func (s *Server) stripeWebhook(c *fiber.Ctx) error {
	sig := string(c.Request().Header.Peek("Stripe-Signature"))
	if !utf8.ValidString(sig) {
		// A protobuf string cannot carry it, and no valid signature has such bytes.
		return problem.New(http.StatusBadRequest, rpcerr.InvalidSignature, "The Stripe-Signature header does not verify.")
	}
	ctx, cancel := s.callCtx(c, stripeWebhookTimeout)
	defer cancel()
	_, err := s.d.Wallet.HandleStripeEvent(ctx, &walletv1.HandleStripeEventRequest{
		Payload:   bytes.Clone(c.Body()),
		Signature: sig,
	})
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"received": true})
}
