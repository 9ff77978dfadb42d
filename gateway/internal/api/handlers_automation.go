package api

import (
	"bytes"
	"encoding/json"
	"net/http"

	"github.com/gofiber/fiber/v2"

	walletv1 "github.com/meterflow/meterflow/proto/gen/meterflow/wallet/v1"
)

// Wallet automation (shared/spec/api.md, "Wallet automation"): the user's
// settings and saved card, and the operators' views of them.

type walletSettingsJSON struct {
	LowBalanceThresholdCents *int64             `json:"low_balance_threshold_cents"`
	AutoTopUp                autoTopUpJSON      `json:"auto_topup"`
	PaymentMethod            *paymentMethodJSON `json:"payment_method"`
}

type autoTopUpJSON struct {
	Enabled        bool    `json:"enabled"`
	ThresholdCents int64   `json:"threshold_cents"`
	AmountCents    int64   `json:"amount_cents"`
	LastError      *string `json:"last_error"`
}

type paymentMethodJSON struct {
	Brand    string `json:"brand"`
	Last4    string `json:"last4"`
	ExpMonth int32  `json:"exp_month"`
	ExpYear  int32  `json:"exp_year"`
}

func toWalletSettings(st *walletv1.WalletSettings) walletSettingsJSON {
	a := st.GetAutoTopup()
	out := walletSettingsJSON{
		LowBalanceThresholdCents: st.LowBalanceThresholdCents,
		AutoTopUp:                autoTopUpJSON{Enabled: a.GetEnabled(), ThresholdCents: a.GetThresholdCents(), AmountCents: a.GetAmountCents(), LastError: a.LastError},
	}
	if pm := st.PaymentMethod; pm != nil {
		out.PaymentMethod = &paymentMethodJSON{Brand: pm.GetBrand(), Last4: pm.GetLast4(), ExpMonth: pm.GetExpMonth(), ExpYear: pm.GetExpYear()}
	}
	return out
}

func (s *Server) getWalletSettings(c *fiber.Ctx) error {
	ctx, cancel := s.callCtx(c, 0)
	defer cancel()
	resp, err := s.d.Wallet.GetWalletSettings(ctx, &walletv1.GetWalletSettingsRequest{})
	if err != nil {
		return err
	}
	return c.JSON(toWalletSettings(resp.GetSettings()))
}

// settingsBody is a PATCH of the settings: absent fields stay as they are;
// low_balance_threshold_cents null switches the low-balance email off.
type settingsBody struct {
	LowBalanceThresholdCents json.RawMessage `json:"low_balance_threshold_cents"`
	AutoTopUp                *struct {
		Enabled        *bool  `json:"enabled"`
		ThresholdCents *int64 `json:"threshold_cents"`
		AmountCents    *int64 `json:"amount_cents"`
	} `json:"auto_topup"`
}

func (s *Server) updateWalletSettings(c *fiber.Ctx) error {
	var b settingsBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	req := &walletv1.UpdateWalletSettingsRequest{}
	switch raw := bytes.TrimSpace(b.LowBalanceThresholdCents); {
	case raw == nil:
	case bytes.Equal(raw, []byte("null")):
		req.ClearLowBalanceThreshold = true
	default:
		var v int64
		if err := json.Unmarshal(raw, &v); err != nil {
			return validationField("low_balance_threshold_cents", "must be an integer number of cents, or null")
		}
		req.LowBalanceThresholdCents = &v
	}
	if a := b.AutoTopUp; a != nil {
		req.AutoTopupEnabled, req.AutoTopupThresholdCents, req.AutoTopupAmountCents = a.Enabled, a.ThresholdCents, a.AmountCents
	}
	ctx, cancel := s.callCtx(c, 0)
	defer cancel()
	resp, err := s.d.Wallet.UpdateWalletSettings(ctx, req)
	if err != nil {
		return err
	}
	return c.JSON(toWalletSettings(resp.GetSettings()))
}

type paymentMethodBody struct {
	SuccessURL string `json:"success_url"`
	CancelURL  string `json:"cancel_url"`
}

// createPaymentMethod opens Stripe Checkout in setup mode. The body is
// optional: without one the configured return pages are used.
func (s *Server) createPaymentMethod(c *fiber.Ctx) error {
	var b paymentMethodBody
	if len(bytes.TrimSpace(c.Body())) > 0 {
		if err := decodeJSON(c, &b); err != nil {
			return err
		}
	}
	ctx, cancel := s.callCtx(c, 0)
	defer cancel()
	resp, err := s.d.Wallet.CreatePaymentMethodSession(ctx, &walletv1.CreatePaymentMethodSessionRequest{SuccessUrl: b.SuccessURL, CancelUrl: b.CancelURL})
	if err != nil {
		return err
	}
	return c.Status(http.StatusCreated).JSON(fiber.Map{"checkout_url": resp.GetCheckoutUrl()})
}

func (s *Server) deletePaymentMethod(c *fiber.Ctx) error {
	ctx, cancel := s.callCtx(c, 0)
	defer cancel()
	if _, err := s.d.Wallet.DeletePaymentMethod(ctx, &walletv1.DeletePaymentMethodRequest{}); err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}
