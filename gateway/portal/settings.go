package portal

import (
	"net/http"

	"github.com/gofiber/fiber/v2"

	"github.com/meterflow/meterflow/gateway/internal/money"
	"github.com/meterflow/meterflow/gateway/internal/problem"
	"github.com/meterflow/meterflow/gateway/internal/ratelimit"
	"github.com/meterflow/meterflow/gateway/internal/web"
	"github.com/meterflow/meterflow/platform/rpcerr"
	walletv1 "github.com/meterflow/meterflow/proto/gen/meterflow/wallet/v1"
)

// Wallet settings (shared/spec/api.md, "Wallet automation"): the
// low-balance email, the saved card and auto top-up. Saving a card goes
// through Stripe Checkout in setup mode and back here; the card appears
// once Stripe's webhook has told the wallet, which may be after the
// redirect, so the page waits for it as the top-up page does.

// settingsView is the settings page: one form per concern, each with its
// own errors.
type settingsView struct {
	Settings *walletv1.WalletSettings
	Low      *Form
	Auto     *Form
	Card     *Form
	// CardReturn is how the user came back from saving a card: "saved"
	// (Refresh reloads until the card shows, until Slow) or "cancelled".
	CardReturn string
	Refresh    string
	Slow       bool
}

func (p *Portal) settings(x *fiber.Ctx, s *web.Session) error {
	v := settingsView{Low: p.newForm(), Auto: p.newForm(), Card: p.newForm()}
	switch x.Query("card") {
	case "saved", "cancelled":
		v.CardReturn = x.Query("card")
	}
	return p.renderSettings(x, s, http.StatusOK, v)
}

// renderSettings reads the settings and fills the forms not being edited
// with them.
func (p *Portal) renderSettings(x *fiber.Ctx, s *web.Session, code int, v settingsView) error {
	ctx, cancel := p.call(x, s)
	defer cancel()
	r, err := p.d.Wallet.GetWalletSettings(ctx, &walletv1.GetWalletSettingsRequest{})
	if err != nil {
		return err
	}
	v.Settings = r.GetSettings()
	if !v.Low.failed() {
		v.Low.Values["low_threshold"] = ""
		if t := v.Settings.LowBalanceThresholdCents; t != nil {
			v.Low.Values["low_threshold"] = money.Decimal(*t)
		}
	}
	if a := v.Settings.GetAutoTopup(); !v.Auto.failed() {
		v.Auto.Values["auto_threshold"], v.Auto.Values["auto_amount"] = money.Decimal(a.GetThresholdCents()), money.Decimal(a.GetAmountCents())
		if a.GetEnabled() {
			v.Auto.Values["enabled"] = "1"
		}
	}
	if v.CardReturn == "saved" && v.Settings.PaymentMethod == nil {
		v.Refresh, v.Slow = p.refresh(x, "/settings", map[string][]string{"card": {"saved"}})
	}
	return p.render(x, s, code, "settings", "Wallet settings", "settings", v)
}

func (p *Portal) saveLowBalance(x *fiber.Ctx, s *web.Session) error {
	v := settingsView{Low: p.newForm(), Auto: p.newForm(), Card: p.newForm()}
	req := &walletv1.UpdateWalletSettingsRequest{}
	if t := v.Low.amount("low_threshold", x.FormValue("threshold")); t != nil {
		req.LowBalanceThresholdCents = t
	} else if !v.Low.failed() {
		req.ClearLowBalanceThreshold = true // empty: no low-balance email
	}
	if v.Low.failed() {
		return p.renderSettings(x, s, http.StatusBadRequest, v)
	}
	return p.updateSettings(x, s, v, v.Low, req, map[string]string{"low_balance_threshold_cents": "low_threshold"}, "Low-balance email saved.")
}

func (p *Portal) saveAutoTopUp(x *fiber.Ctx, s *web.Session) error {
	v := settingsView{Low: p.newForm(), Auto: p.newForm(), Card: p.newForm()}
	enabled := x.FormValue("enabled") != ""
	if enabled {
		v.Auto.Values["enabled"] = "1"
	}
	req := &walletv1.UpdateWalletSettingsRequest{AutoTopupEnabled: &enabled}
	req.AutoTopupThresholdCents = v.Auto.amount("auto_threshold", x.FormValue("threshold"))
	req.AutoTopupAmountCents = v.Auto.amount("auto_amount", x.FormValue("amount"))
	if enabled && req.AutoTopupAmountCents == nil && !v.Auto.failed() {
		v.Auto.fail("auto_amount", "Enter the amount to charge.")
	}
	if v.Auto.failed() {
		return p.renderSettings(x, s, http.StatusBadRequest, v)
	}
	done := "Auto top-up is off."
	if enabled {
		done = "Auto top-up is on."
	}
	return p.updateSettings(x, s, v, v.Auto, req,
		map[string]string{"auto_topup_threshold_cents": "auto_threshold", "threshold_cents": "auto_threshold", "auto_topup_amount_cents": "auto_amount", "amount_cents": "auto_amount"}, done)
}

// updateSettings sends one form's change; a refusal is shown on that form.
func (p *Portal) updateSettings(x *fiber.Ctx, s *web.Session, v settingsView, f *Form, req *walletv1.UpdateWalletSettingsRequest, fields map[string]string, done string) error {
	ctx, cancel := p.call(x, s)
	defer cancel()
	if _, err := p.d.Wallet.UpdateWalletSettings(ctx, req); err != nil {
		if rpcerr.Reason(err) == rpcerr.NoPaymentMethod {
			f.fail("", "Auto top-up needs a saved card. Save one below first.")
		} else if err := f.refused(err, fields); err != nil {
			return err
		}
		return p.renderSettings(x, s, problem.FromError(err).Status, v)
	}
	return p.site.FlashRedirect(x, s, done, p.site.Base()+"/settings")
}

// saveCard opens Stripe Checkout in setup mode, back to the settings.
func (p *Portal) saveCard(x *fiber.Ctx, s *web.Session) error {
	v := settingsView{Low: p.newForm(), Auto: p.newForm(), Card: p.newForm()}
	ctx, cancel := p.call(x, s)
	defer cancel()
	if code, err := p.allowed(ctx, s, v.Card, ratelimit.ClassTopUps, p.o.TopUpsPerMinute); err != nil || code != 0 {
		if err != nil {
			return err
		}
		return p.renderSettings(x, s, code, v)
	}
	r, err := p.d.Wallet.CreatePaymentMethodSession(ctx, &walletv1.CreatePaymentMethodSessionRequest{
		SuccessUrl: p.url("/settings?card=saved"), CancelUrl: p.url("/settings?card=cancelled"),
	})
	if err != nil {
		if err := v.Card.refused(err, nil); err != nil {
			return err
		}
		return p.renderSettings(x, s, problem.FromError(err).Status, v)
	}
	return x.Redirect(r.GetCheckoutUrl(), fiber.StatusSeeOther)
}

func (p *Portal) removeCard(x *fiber.Ctx, s *web.Session) error {
	ctx, cancel := p.call(x, s)
	defer cancel()
	if _, err := p.d.Wallet.DeletePaymentMethod(ctx, &walletv1.DeletePaymentMethodRequest{}); err != nil {
		return err
	}
	return p.site.FlashRedirect(x, s, "The card is removed and auto top-up is off.", p.site.Base()+"/settings")
}
