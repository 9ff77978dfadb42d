package portal

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/meterflow/meterflow/gateway/internal/money"
	"github.com/meterflow/meterflow/gateway/internal/ratelimit"
	"github.com/meterflow/meterflow/gateway/internal/web"
	"github.com/meterflow/meterflow/platform/rpcerr"
	walletv1 "github.com/meterflow/meterflow/proto/gen/meterflow/wallet/v1"
)

// A top-up goes amount → Stripe Checkout → back to /app/topups/{id}, which
// shows the top-up's real state as the wallet has it (GetTopUp): Stripe's
// redirect proves nothing, and the webhook that credits the wallet may come
// before or after it. The return URLs carry the wallet's {TOPUP_ID}
// placeholder, so the page knows its top-up without state of its own.

// topUpView is the top-up form.
type topUpView struct {
	*Form
	Key string
}

func (p *Portal) topUpForm(x *fiber.Ctx, s *web.Session) error {
	v := topUpView{Form: p.newForm(), Key: formKey()}
	// The wallet's emails link here with the amount they suggest.
	if c, err := strconv.ParseInt(x.Query("amount_cents"), 10, 64); err == nil && c > 0 && c <= money.MaxFormCents {
		v.Values["amount"] = money.Decimal(c)
	}
	return p.render(x, s, http.StatusOK, "topup", "Add funds", "topup", v)
}

func (p *Portal) topUp(x *fiber.Ctx, s *web.Session) error {
	v := topUpView{Form: p.newForm(), Key: postedKey(x)}
	amount := v.amount("amount", x.FormValue("amount"))
	if amount == nil && !v.failed() {
		v.fail("amount", "Enter the amount to add.")
	}
	if v.failed() {
		return p.render(x, s, http.StatusBadRequest, "topup", "Add funds", "topup", v)
	}
	ctx, cancel := p.call(x, s)
	defer cancel()
	if code, err := p.allowed(ctx, s, v.Form, ratelimit.ClassTopUps, p.o.TopUpsPerMinute); err != nil || code != 0 {
		if err != nil {
			return err
		}
		return p.render(x, s, code, "topup", "Add funds", "topup", v)
	}
	r, err := p.d.Wallet.CreateTopUp(ctx, &walletv1.CreateTopUpRequest{
		AmountCents: *amount, IdempotencyKey: "portal-" + v.Key,
		SuccessUrl: p.url("/topups/{TOPUP_ID}?return=success"), CancelUrl: p.url("/topups/{TOPUP_ID}?return=cancel"),
	})
	if err != nil {
		if rpcerr.Reason(err) == rpcerr.IdempotencyKeyReused {
			v.Key = formKey()
			v.fail("", "This form was already sent with another amount. Check the amount and send it again.")
			return p.render(x, s, http.StatusConflict, "topup", "Add funds", "topup", v)
		}
		if err := v.refused(err, map[string]string{"amount_cents": "amount"}); err != nil {
			return err
		}
		return p.render(x, s, http.StatusBadRequest, "topup", "Add funds", "topup", v)
	}
	// The Checkout URL is Stripe's, from the wallet; never the request's.
	return x.Redirect(r.GetTopUp().GetCheckoutUrl(), fiber.StatusSeeOther)
}

// topUpStatusView is the page Checkout returns to.
type topUpStatusView struct {
	TopUp *walletv1.TopUp
	// Return is how the user came back: "success", "cancel" or "".
	Return string
	// Refresh is the URL the page reloads after a few seconds; "" when
	// it does not.
	Refresh string
	// Slow: the confirmation is taking longer than the page waits.
	Slow   bool
	Wallet *walletv1.Wallet
}

// maxWaits bounds a page's self-refreshes while it waits for something
// (Stripe's confirmation, a run's end): about two minutes at the 3 s of
// the templates' meta refresh; then the page says so and stops.
const maxWaits = 40

// refresh is the URL a waiting page reloads (path with q and the count of
// reloads so far), or slow once it has waited maxWaits times.
func (p *Portal) refresh(x *fiber.Ctx, path string, q url.Values) (string, bool) {
	waits, _ := strconv.Atoi(x.Query("wait"))
	if waits >= maxWaits {
		return "", true
	}
	if q == nil {
		q = url.Values{}
	}
	q.Set("wait", strconv.Itoa(max(waits, 0)+1))
	return p.site.Base() + path + "?" + q.Encode(), false
}

func (p *Portal) topUpStatus(x *fiber.Ctx, s *web.Session) error {
	id := x.Params("id")
	if uuid.Validate(id) != nil {
		return web.ErrNotFound
	}
	ctx, cancel := p.call(x, s)
	defer cancel()
	r, err := p.d.Wallet.GetTopUp(ctx, &walletv1.GetTopUpRequest{Id: id})
	if err != nil {
		return err // another user's top-up is the wallet's 404
	}
	v := topUpStatusView{TopUp: r.GetTopUp()}
	switch x.Query("return") {
	case "success", "cancel":
		v.Return = x.Query("return")
	}
	if v.TopUp.GetStatus() == "pending" && v.Return == "success" {
		v.Refresh, v.Slow = p.refresh(x, "/topups/"+id, url.Values{"return": {v.Return}})
	}
	if v.TopUp.GetStatus() == "paid" {
		if w, err := p.d.Wallet.GetWallet(ctx, &walletv1.GetWalletRequest{}); err == nil {
			v.Wallet = w.GetWallet()
		}
	}
	return p.render(x, s, http.StatusOK, "topup_status", "Top-up", "topup", v)
}
