package api

import (
	"github.com/gofiber/fiber/v2"

	walletv1 "github.com/meterflow/meterflow/proto/gen/meterflow/wallet/v1"
)

// The operators' views of wallet automation: a user's card, auto top-up
// state and history, disputes and debt; the open disputes; the accounts in
// debt.

type adminAutoTopUpSettingsJSON struct {
	autoTopUpJSON
	Failures        int32 `json:"failures"`
	MonthlyCapCents int64 `json:"monthly_cap_cents"`
}

type adminAutomationJSON struct {
	LowBalanceThresholdCents *int64                     `json:"low_balance_threshold_cents"`
	AutoTopUp                adminAutoTopUpSettingsJSON `json:"auto_topup"`
	// PaymentMethod shows brand and last4 only.
	PaymentMethod         *cardJSON       `json:"payment_method"`
	InDebtSince           *string         `json:"in_debt_since"`
	ChargedThisMonthCents int64           `json:"charged_this_month_cents"`
	AutoTopUps            []autoTopUpItem `json:"auto_topups"`
	Disputes              []disputeJSON   `json:"disputes"`
}

type cardJSON struct {
	Brand string `json:"brand"`
	Last4 string `json:"last4"`
}

type autoTopUpItem struct {
	CrossingID     string  `json:"crossing_id"`
	Outcome        string  `json:"outcome"`
	ThresholdCents int64   `json:"threshold_cents"`
	AvailableCents int64   `json:"available_cents"`
	TopUpID        *string `json:"topup_id"`
	AmountCents    int64   `json:"amount_cents"`
	Status         *string `json:"status"`
	PaymentIntent  *string `json:"payment_intent_id"`
	FailureReason  *string `json:"failure_reason"`
	CreatedAt      *string `json:"created_at"`
}

type disputeJSON struct {
	ID              string  `json:"id"`
	StripeDisputeID string  `json:"stripe_dispute_id"`
	UserID          string  `json:"user_id"`
	TopUpID         string  `json:"topup_id"`
	PaymentIntentID string  `json:"payment_intent_id"`
	AmountCents     int64   `json:"amount_cents"`
	Currency        string  `json:"currency"`
	Status          string  `json:"status"`
	HeldCents       int64   `json:"held_cents"`
	CreatedAt       *string `json:"created_at"`
	ClosedAt        *string `json:"closed_at"`
}

type debtJSON struct {
	UserID       string  `json:"user_id"`
	BalanceCents int64   `json:"balance_cents"`
	HeldCents    int64   `json:"held_cents"`
	InDebtSince  *string `json:"in_debt_since"`
}

func nonEmptyPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func toDisputes(ds []*walletv1.Dispute) []disputeJSON {
	out := make([]disputeJSON, 0, len(ds))
	for _, d := range ds {
		out = append(out, disputeJSON{ID: d.GetId(), StripeDisputeID: d.GetStripeDisputeId(), UserID: d.GetUserId(), TopUpID: d.GetTopupId(),
			PaymentIntentID: d.GetPaymentIntentId(), AmountCents: d.GetAmountCents(), Currency: d.GetCurrency(), Status: d.GetStatus(),
			HeldCents: d.GetHeldCents(), CreatedAt: timeJSON(d.GetCreatedAt()), ClosedAt: timeJSON(d.GetClosedAt())})
	}
	return out
}

func toAdminAutomation(r *walletv1.AdminGetAutomationResponse) adminAutomationJSON {
	st := toWalletSettings(r.GetSettings())
	a := r.GetSettings().GetAutoTopup()
	out := adminAutomationJSON{
		LowBalanceThresholdCents: st.LowBalanceThresholdCents,
		AutoTopUp:                adminAutoTopUpSettingsJSON{autoTopUpJSON: st.AutoTopUp, Failures: a.GetFailures(), MonthlyCapCents: a.GetMonthlyCapCents()},
		InDebtSince:              timeJSON(r.GetInDebtSince()),
		ChargedThisMonthCents:    r.GetChargedThisMonthCents(),
		AutoTopUps:               make([]autoTopUpItem, 0, len(r.GetAutoTopups())),
		Disputes:                 toDisputes(r.GetDisputes()),
	}
	if pm := st.PaymentMethod; pm != nil {
		out.PaymentMethod = &cardJSON{Brand: pm.Brand, Last4: pm.Last4}
	}
	for _, t := range r.GetAutoTopups() {
		out.AutoTopUps = append(out.AutoTopUps, autoTopUpItem{CrossingID: t.GetCrossingId(), Outcome: t.GetOutcome(),
			ThresholdCents: t.GetThresholdCents(), AvailableCents: t.GetAvailableCents(), TopUpID: nonEmptyPtr(t.GetTopupId()),
			AmountCents: t.GetAmountCents(), Status: nonEmptyPtr(t.GetStatus()), PaymentIntent: nonEmptyPtr(t.GetPaymentIntentId()),
			FailureReason: nonEmptyPtr(t.GetFailureReason()), CreatedAt: timeJSON(t.GetCreatedAt())})
	}
	return out
}

func (s *Server) adminGetAutomation(c *fiber.Ctx) error {
	id, err := pathUUID(c, "id")
	if err != nil {
		return err
	}
	ctx, cancel := s.callCtx(c, 0)
	defer cancel()
	resp, err := s.d.Wallet.AdminGetAutomation(ctx, &walletv1.AdminGetAutomationRequest{UserId: id})
	if err != nil {
		return err
	}
	return c.JSON(toAdminAutomation(resp))
}

func (s *Server) adminListDisputes(c *fiber.Ctx) error {
	limit, cursor, err := listParams(c)
	if err != nil {
		return err
	}
	status, err := oneOf(c, "status", "open")
	if err != nil {
		return err
	}
	ctx, cancel := s.callCtx(c, 0)
	defer cancel()
	resp, err := s.d.Wallet.AdminListDisputes(ctx, &walletv1.AdminListDisputesRequest{OpenOnly: status == "open", Limit: limit, Cursor: cursor})
	if err != nil {
		return err
	}
	return c.JSON(newList(toDisputes(resp.GetDisputes()), resp.GetNextCursor()))
}

func (s *Server) adminListDebts(c *fiber.Ctx) error {
	limit, cursor, err := listParams(c)
	if err != nil {
		return err
	}
	ctx, cancel := s.callCtx(c, 0)
	defer cancel()
	resp, err := s.d.Wallet.AdminListDebts(ctx, &walletv1.AdminListDebtsRequest{Limit: limit, Cursor: cursor})
	if err != nil {
		return err
	}
	items := make([]debtJSON, 0, len(resp.GetDebts()))
	for _, d := range resp.GetDebts() {
		items = append(items, debtJSON{UserID: d.GetUserId(), BalanceCents: d.GetBalanceCents(), HeldCents: d.GetHeldCents(), InDebtSince: timeJSON(d.GetInDebtSince())})
	}
	return c.JSON(newList(items, resp.GetNextCursor()))
}
