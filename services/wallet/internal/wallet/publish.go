package wallet

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"
)

// The webhook event types the wallet publishes (notify delivers them to
// the user's endpoints, docs/adr/0014-event-outboxes.md).
const (
	WebhookTopUpPaid  = "topup.paid"
	WebhookLowBalance = "wallet.low_balance"
)

// Event is a webhook event for the owner of a wallet, handed to notify
// through the outbox in the transaction of the change that causes it (the
// store enqueues it, as it does the change's emails): it exists exactly
// when the change commits, and a replay that changes nothing has none.
type Event struct {
	UserID uuid.UUID
	Type   string
	// Data is the event's data as the public API shows it (a JSON object).
	Data []byte
	// OccurredAt is when the change happened.
	OccurredAt time.Time
}

// publicTopUp is a top-up as GET /v1/wallet/topups/{id} shows it.
type publicTopUp struct {
	ID                string `json:"id"`
	CheckoutSessionID string `json:"checkout_session_id"`
	AmountCents       int64  `json:"amount_cents"`
	Status            string `json:"status"`
	CreatedAt         string `json:"created_at"`
}

// publicWallet is the wallet as GET /v1/wallet shows it.
type publicWallet struct {
	BalanceCents   int64  `json:"balance_cents"`
	HeldCents      int64  `json:"held_cents"`
	AvailableCents int64  `json:"available_cents"`
	Currency       string `json:"currency"`
}

// lowBalanceData is the data of wallet.low_balance: the wallet after the
// capture that crossed, and the threshold it crossed (as
// WalletSettings names it).
type lowBalanceData struct {
	Wallet         publicWallet `json:"wallet"`
	ThresholdCents int64        `json:"low_balance_threshold_cents"`
}

// topUpPaidEvent is topup.paid for top-up t as the change that credits it
// leaves it (status paid), at the time of the credit.
func topUpPaidEvent(t TopUp, at time.Time) Event {
	return Event{UserID: t.UserID, Type: WebhookTopUpPaid, OccurredAt: at, Data: mustJSON(publicTopUp{
		ID: t.ID.String(), CheckoutSessionID: t.CheckoutSessionID, AmountCents: t.AmountCents, Status: t.UserStatus(),
		CreatedAt: t.CreatedAt.UTC().Format(time.RFC3339), // the API's times: RFC 3339, UTC, seconds
	})}
}

// lowBalanceEvent is wallet.low_balance for crossing c of wallet w (after
// the capture).
func lowBalanceEvent(c Crossing, w Wallet) Event {
	return Event{UserID: c.UserID, Type: WebhookLowBalance, OccurredAt: c.CreatedAt, Data: mustJSON(lowBalanceData{
		Wallet: publicWallet{BalanceCents: w.BalanceCents, HeldCents: w.HeldCents, AvailableCents: w.AvailableCents(),
			Currency: w.Currency},
		ThresholdCents: c.ThresholdCents,
	})}
}

// mustJSON marshals the structs above, made of strings and integers only,
// which cannot fail.
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("wallet: marshal an event's data: " + err.Error())
	}
	return b
}
