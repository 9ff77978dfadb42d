package wallet

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/google/uuid"
)

// Email templates of notify (proto/meterflow/notify/v1) the wallet sends.
const (
	TemplateTopUpReceipt    = "topup_receipt"
	TemplateLowBalance      = "low_balance"
	TemplateAutoTopUpFailed = "auto_topup_failed"
)

// Email is an email to the owner of a wallet, handed to notify through the
// outbox in the transaction of the change that causes it (the store
// enqueues it): it goes out exactly when the change commits.
//
// Data of each template (all strings):
//   - topup_receipt: amount_cents, amount ("$10.00"), currency, topup_id,
//     origin (checkout or auto), payment_intent;
//   - low_balance: threshold_cents, threshold, available_cents, available,
//     currency, topup_url (the portal's top-up page);
//   - auto_topup_failed: amount_cents, amount, currency, topup_id, error
//     (last_error), failures, switched_off ("true" when this was the third
//     in a row), pay_url (the portal's top-up page with the amount, to pay
//     on-session: a card that needs its holder is authenticated there).
type Email struct {
	UserID   uuid.UUID
	Template string
	Data     map[string]string
}

// FormatMoney writes cents for people: "$12.50" in usd, "12.50 EUR" else.
func FormatMoney(cents int64, currency string) string {
	sign := ""
	if cents < 0 {
		sign, cents = "-", -cents
	}
	n := fmt.Sprintf("%d.%02d", cents/100, cents%100)
	if strings.EqualFold(currency, "usd") {
		return sign + "$" + n
	}
	return sign + n + " " + strings.ToUpper(currency)
}

// topUpURL is the portal's top-up page, with an amount when given.
func (s *Service) topUpURL(amount int64) string {
	u := strings.TrimRight(s.cfg.PortalURL, "/") + "/app/topup"
	if amount > 0 {
		u += "?" + url.Values{"amount_cents": {strconv.FormatInt(amount, 10)}}.Encode()
	}
	return u
}

func (s *Service) receiptEmail(t TopUp, amount int64, pi string) Email {
	return Email{UserID: t.UserID, Template: TemplateTopUpReceipt, Data: map[string]string{
		"amount_cents": strconv.FormatInt(amount, 10), "amount": FormatMoney(amount, t.Currency), "currency": t.Currency,
		"topup_id": t.ID.String(), "origin": t.Origin, "payment_intent": pi,
	}}
}

func (s *Service) lowBalanceEmail(c Crossing, currency string) Email {
	return Email{UserID: c.UserID, Template: TemplateLowBalance, Data: map[string]string{
		"threshold_cents": strconv.FormatInt(c.ThresholdCents, 10), "threshold": FormatMoney(c.ThresholdCents, currency),
		"available_cents": strconv.FormatInt(c.AvailableCents, 10), "available": FormatMoney(c.AvailableCents, currency),
		"currency": currency, "topup_url": s.topUpURL(0),
	}}
}

func (s *Service) failedEmail(t TopUp, reason string) Email {
	return Email{UserID: t.UserID, Template: TemplateAutoTopUpFailed, Data: map[string]string{
		"amount_cents": strconv.FormatInt(t.AmountCents, 10), "amount": FormatMoney(t.AmountCents, t.Currency), "currency": t.Currency,
		"topup_id": t.ID.String(), "error": reason, "pay_url": s.topUpURL(t.AmountCents),
	}}
}
