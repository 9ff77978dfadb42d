package database

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// InTx runs fn in a READ COMMITTED transaction on pool, committing when fn
// returns nil and rolling back otherwise (also when ctx is canceled: the
// rollback does not depend on ctx).
func InTx(ctx context.Context, pool *pgxpool.Pool, fn func(pgx.Tx) error) error {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// Retry runs op (a transaction, or one statement in its own implicit
// transaction) up to three times while it fails with a deadlock or a
// serialization failure: the database chose it as the victim and nothing
// of it was written.
func Retry(ctx context.Context, op func() error) error {
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if err = op(); !Retryable(err) || ctx.Err() != nil {
			return err
		}
	}
	return err
}

// Retryable reports a deadlock (40P01) or serialization failure (40001).
func Retryable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "40P01" || pgErr.Code == "40001")
}
