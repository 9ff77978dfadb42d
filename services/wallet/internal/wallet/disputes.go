package wallet

import (
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Dispute statuses (disputes.status). Stripe's own statuses map onto
// them: won and warning_closed (an inquiry that ended) release the hold,
// lost charges it back; every other status is open.
const (
	DisputeOpen = "open"
	DisputeWon  = "won"
	DisputeLost = "lost"
)

// Dispute is a dispute of one of our payments, and the part of the
// account's held amount it holds.
type Dispute struct {
	ID uuid.UUID
	// StripeID is Stripe's dispute id (dp_...).
	StripeID        string
	UserID          uuid.UUID
	TopUpID         uuid.UUID
	PaymentIntentID string
	AmountCents     int64
	Currency        string
	Status          string
	HeldCents       int64
	ClosedAt        time.Time
	CreatedAt       time.Time
}

// Found reports whether the dispute was read from the store (a zero
// Dispute means none yet).
func (d Dispute) Found() bool { return d.StripeID != "" }

// DisputeChange is what a dispute event writes: the dispute's new row and
// the change of the account's held amount (+ the amount when it opens,
// − what it held when it closes).
type DisputeChange struct {
	Row       Dispute
	HeldDelta int64
}

// disputeClosedStatus maps Stripe's status of a closed dispute to ours.
func disputeClosedStatus(stripeStatus string) string {
	if stripeStatus == disputeLost {
		return DisputeLost
	}
	return DisputeWon
}

// decideDisputeEvent applies charge.dispute.created (closed false) or
// charge.dispute.closed to the top-up t and the dispute's row d (zero when
// this is the first event of the dispute), in any order and however often:
//
//   - created, no row: the dispute opens and holds its amount;
//   - closed, row open: the hold is released, and when lost the amount is
//     charged back (chargeback:<dispute id>, once);
//   - closed, no row (the created event is late or lost): lost charges
//     back at once, won writes the closed row; a late created then finds
//     the row closed and does nothing;
//   - anything else (a repeat, created after closed) changes nothing.
//
// A parked top-up books nothing; another currency parks it.
func decideDisputeEvent(typ string, obj disputeObject, t TopUp, d Dispute, now time.Time) TopUpChange {
	c := unchanged(t)
	closed := typ == EventChargeDisputeClosed
	switch {
	case t.Status == TopUpParked:
		return c
	case !sameCurrency(obj.Currency, t.Currency):
		return park(c, fmt.Sprintf("%s (%s) reported %d %s for a top-up in %s", typ, obj.Status, *obj.Amount, obj.Currency, t.Currency), now)
	case d.Found() && d.Status != DisputeOpen, d.Found() && !closed:
		return c
	}
	row := d
	if !d.Found() {
		row = Dispute{ID: newID(), StripeID: obj.ID, UserID: t.UserID, TopUpID: t.ID, PaymentIntentID: string(obj.PaymentIntent),
			AmountCents: *obj.Amount, Currency: t.Currency, Status: DisputeOpen, CreatedAt: now}
	}
	if !closed {
		row.HeldCents = row.AmountCents
		c.Dispute = &DisputeChange{Row: row, HeldDelta: row.AmountCents}
		return c
	}
	released := row.HeldCents
	row.Status, row.HeldCents, row.ClosedAt, row.AmountCents = disputeClosedStatus(obj.Status), 0, now, *obj.Amount
	c.Dispute = &DisputeChange{Row: row, HeldDelta: -released}
	if row.Status == DisputeLost {
		c.ChargebackCents += row.AmountCents
		c.Entries = append(c.Entries, LedgerEntry{
			ID: newID(), Kind: KindChargeback, AmountCents: -row.AmountCents, Description: descriptionChargeback,
			ReferenceType: referenceTopUp, ReferenceID: t.ID.String(), SourceKey: "chargeback:" + row.StripeID,
		})
	}
	return c
}
