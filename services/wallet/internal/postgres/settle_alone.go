package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/meterflow/meterflow/platform/database"
	"github.com/meterflow/meterflow/platform/groupcommit"
	"github.com/meterflow/meterflow/services/wallet/internal/wallet"
)

// errHasSettings: a capture's user has settings, so it may cross a
// threshold; nothing was written, and the capture goes through a
// transaction that decides the crossings (ADR 0022).
var errHasSettings = errors.New("the user of a capture has settings")

// outcomeSettings is capture_hold_alone's answer for a user with settings.
const outcomeSettings = "settings"

// isSettingsAppeared reports the refusal of capture_hold_alone and
// settle_holds_alone when settings committed while they ran (SQLSTATE
// MF003): the statement was rolled back.
func isSettingsAppeared(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "MF003"
}

// captureHoldAloneSQL calls capture_hold_alone (migration 00010). Written
// by hand: sqlc (v1.31) does not type the columns of a function returning
// TABLE.
const captureHoldAloneSQL = `SELECT outcome, fee_balance_after_cents, fee_created_at
FROM capture_hold_alone($1::uuid, $2::uuid, $3::text, $4::bigint, $5::text, $6::text, $7::text, $8::text)`

// captureAlone captures the open hold h with capture_hold_alone: the
// CaptureHold query's effects in one statement, its own transaction, when
// h's user has no settings; errHasSettings (nothing written) when they
// have, errSettled when h is no longer open.
func (s *Store) captureAlone(ctx context.Context, h wallet.Hold, d wallet.Settlement) (settleOut, error) {
	f := d.Fee
	var (
		outcome string
		bal     *int64
		at      *time.Time
	)
	err := database.Retry(ctx, func() error {
		return s.pool.QueryRow(ctx, captureHoldAloneSQL, h.ID, f.ID, f.Kind, f.AmountCents, f.Description,
			f.ReferenceType, f.ReferenceID, f.SourceKey).Scan(&outcome, &bal, &at)
	})
	switch {
	case isSettingsAppeared(err):
		return settleOut{}, errHasSettings
	case err != nil:
		return settleOut{}, err
	}
	switch outcome {
	case outcomeSettings:
		return settleOut{}, errHasSettings
	case outcomeSettled:
		return settleOut{}, errSettled
	case outcomeCaptured:
		if bal != nil && at != nil {
			break
		}
		fallthrough
	default:
		return settleOut{}, fmt.Errorf("capture_hold_alone answered %q for hold %s", outcome, h.ID)
	}
	out := settleOut{hold: h, fee: wallet.Transaction{ID: f.ID, UserID: h.UserID, Kind: f.Kind, AmountCents: f.AmountCents,
		BalanceAfterCents: *bal, Description: f.Description, ReferenceType: f.ReferenceType, ReferenceID: f.ReferenceID, CreatedAt: *at}}
	out.hold.Status = wallet.HoldCaptured
	return out, nil
}

// settleHoldsAloneSQL calls settle_holds_alone (migration 00010), by hand
// as settleHoldsSQL.
const settleHoldsAloneSQL = `SELECT ord, outcome, id, key, user_id, amount_cents, status, expires_at, description,
    reference_type, reference_id, created_at, api_key_id, spend_month, fee_created_at, balance_after_cents, held_after_cents
FROM settle_holds_alone($1::uuid[], $2::text[], $3::uuid[], $4::text[], $5::bigint[], $6::text[], $7::text[], $8::text[], $9::text[])`

// settleHoldsAlone applies ins with settle_holds_alone, in one statement
// that is its own transaction, and stores the answers in out once it
// committed; errHasSettings (nothing written) when a capture's user has
// settings.
func (s *Store) settleHoldsAlone(ctx context.Context, ins []settleIn, out []groupcommit.Result[settleOut], args []any) error {
	var res []groupcommit.Result[settleOut]
	err := database.Retry(ctx, func() error {
		res = make([]groupcommit.Result[settleOut], len(ins))
		_, err := s.applySettlements(ctx, s.pool, settleHoldsAloneSQL, ins, res, args...)
		return err
	})
	switch {
	case isSettingsAppeared(err):
		return errHasSettings
	case err != nil:
		return err
	}
	copy(out, res)
	return nil
}
