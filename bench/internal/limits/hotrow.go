package limits

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrInsufficient is returned when the hot row's balance no longer covers a fee.
var ErrInsufficient = errors.New("hot row: balance below fee")

// HotRow is the hot-wallet limit: one account row and an append-only ledger
// in the bench's own database; each fee is one transaction of a conditional
// UPDATE … SET balance = balance - fee WHERE … AND balance >= fee plus a
// ledger INSERT, with plain pgx (BEGIN, UPDATE, INSERT, COMMIT).
type HotRow struct {
	pool *pgxpool.Pool
}

// OpenHotRow creates the tables in the (fresh) database at url and funds the row.
func OpenHotRow(ctx context.Context, url string, conns int, balance int64) (*HotRow, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, err
	}
	cfg.MaxConns = int32(conns)
	cfg.MinConns = int32(conns)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	_, err = pool.Exec(ctx, `
CREATE TABLE hot_accounts (id int PRIMARY KEY, balance_cents bigint NOT NULL, updated_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE hot_ledger (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    account_id int NOT NULL REFERENCES hot_accounts (id),
    amount_cents bigint NOT NULL,
    balance_after_cents bigint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp());
CREATE INDEX hot_ledger_page ON hot_ledger (account_id, created_at DESC, id DESC);`)
	if err == nil {
		_, err = pool.Exec(ctx, `INSERT INTO hot_accounts (id, balance_cents) VALUES (1, $1)`, balance)
	}
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("hot row tables: %w", err)
	}
	return &HotRow{pool: pool}, nil
}

// Fee takes fee cents from the row and books it, in one transaction.
func (h *HotRow) Fee(ctx context.Context, fee int64) error {
	return pgx.BeginFunc(ctx, h.pool, func(tx pgx.Tx) error {
		var after int64
		err := tx.QueryRow(ctx, `UPDATE hot_accounts SET balance_cents = balance_cents - $1, updated_at = now()
WHERE id = 1 AND balance_cents >= $1 RETURNING balance_cents`, fee).Scan(&after)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrInsufficient
		}
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO hot_ledger (account_id, amount_cents, balance_after_cents) VALUES (1, $1, $2)`, -fee, after)
		return err
	})
}

// Check verifies the limit's own invariant: balance = start - sum of fees.
func (h *HotRow) Check(ctx context.Context, start int64) error {
	var bal, sum int64
	if err := h.pool.QueryRow(ctx, `SELECT balance_cents, (SELECT coalesce(sum(amount_cents), 0) FROM hot_ledger) FROM hot_accounts WHERE id = 1`).Scan(&bal, &sum); err != nil {
		return err
	}
	if bal != start+sum {
		return fmt.Errorf("hot row: balance %d != %d + ledger %d", bal, start, sum)
	}
	return nil
}

// Close closes the pool.
func (h *HotRow) Close() { h.pool.Close() }
