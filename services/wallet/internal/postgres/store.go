// Package postgres is the wallet's Store on Postgres: sqlc queries (db/) run
// on the pool or inside a transaction, and Postgres errors mapped to the
// wallet package's errors. One file per query file (queries/<table>.sql →
// <table>.go). The store holds no business rule: where a write depends on
// one, it locks or loads what the rule needs, calls the decide function the
// wallet package passed, and writes what that returned.
package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/meterflow/meterflow/platform/database"
	"github.com/meterflow/meterflow/platform/groupcommit"
	"github.com/meterflow/meterflow/platform/paging"
	"github.com/meterflow/meterflow/services/wallet/internal/postgres/db"
	"github.com/meterflow/meterflow/services/wallet/internal/wallet"
)

// Store implements wallet.Store.
type Store struct {
	pool *pgxpool.Pool
	q    *db.Queries
	jobs Jobs
	// reserves batches Reserve per account (BatchReserves); nil: one by
	// one.
	reserves *groupcommit.Groups[uuid.UUID, wallet.ReserveInput, wallet.Hold]
	// settles batches captures and releases per account
	// (BatchSettlements); nil: one by one.
	settles *groupcommit.Groups[uuid.UUID, settleIn, settleOut]
	// settleInTx: captures and batches always settle in a transaction,
	// as for a user with settings (tests hold the one-statement path,
	// ADR 0022, against it).
	settleInTx bool
}

var _ wallet.Store = (*Store)(nil)

// New returns a Store on pool. Without jobs (the operator commands that
// only read) a capture that would queue an automatic charge fails.
func New(pool *pgxpool.Pool, jobs ...Jobs) *Store {
	s := &Store{pool: pool, q: db.New()}
	if len(jobs) > 0 {
		s.jobs = jobs[0]
	}
	return s
}

// errRollback ends a transaction without error: the outcome is already known
// and nothing must be written.
var errRollback = errors.New("rollback")

// inTx runs fn in a transaction, retried after a deadlock or
// serialization failure (database.Retry).
func (s *Store) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return database.Retry(ctx, func() error { return database.InTx(ctx, s.pool, fn) })
}

// isInsufficientFunds reports reserve_hold's refusal (SQLSTATE MF001).
func isInsufficientFunds(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "MF001"
}

// isSpendLimitExceeded reports reserve_hold's refusal for an API key's
// monthly limit (SQLSTATE MF002).
func isSpendLimitExceeded(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "MF002"
}

func isForeignKeyViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23503"
}

// Far ends of keyset ranges when a filter or cursor is absent.
var (
	farPast   = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	farFuture = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
)

// before is the keyset bound of a page: rows strictly before c, or every
// row at the start of the list.
func before(c paging.Cursor) (time.Time, uuid.UUID) {
	if c.IsZero() {
		return farFuture, uuid.Max
	}
	return c.CreatedAt, c.ID
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// nonZero is a nullable timestamp column's value: NULL for the zero time.
func nonZero(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func derefTime(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

func derefID(id *uuid.UUID) uuid.UUID {
	if id == nil {
		return uuid.Nil
	}
	return *id
}
