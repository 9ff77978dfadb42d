package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/meterflow/meterflow/platform/idempotency"
	"github.com/meterflow/meterflow/services/wallet/internal/postgres/db"
	"github.com/meterflow/meterflow/services/wallet/internal/wallet"
)

// maxKeyAttempts bounds beginKey's loop: a key is only ever deleted (an
// abandoned top-up, the sweeper) between two of its statements, which a
// new attempt absorbs.
const maxKeyAttempts = 3

// BeginIdempotent implements wallet.Store.
func (s *Store) BeginIdempotent(ctx context.Context, in wallet.KeyedRequest) (wallet.KeyState, error) {
	var st wallet.KeyState
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		st, err = s.beginKey(ctx, tx, in)
		return err
	})
	return st, err
}

// beginKey records the start of a keyed request inside tx: a new key is
// inserted as processing (its insert waits for a concurrent first request
// to end); a stored one is locked and decided by in.Decide, and a Claim is
// written over it.
func (s *Store) beginKey(ctx context.Context, tx pgx.Tx, in wallet.KeyedRequest) (wallet.KeyState, error) {
	k := in.IdempotencyKey
	for range maxKeyAttempts {
		n, err := s.q.InsertIdempotencyKey(ctx, tx, db.InsertIdempotencyKeyParams{
			UserID: k.UserID, Scope: k.Scope, Key: k.Key, RequestHash: in.RequestHash, ResourceID: &in.ResourceID, Now: in.Now,
		})
		if err != nil {
			return wallet.KeyState{}, err
		}
		if n == 1 {
			return wallet.KeyState{ResourceID: in.ResourceID}, nil
		}
		row, err := s.q.LockIdempotencyKey(ctx, tx, db.LockIdempotencyKeyParams{UserID: k.UserID, Scope: k.Scope, Key: k.Key})
		if errors.Is(err, pgx.ErrNoRows) {
			continue // deleted in between: insert again
		}
		if err != nil {
			return wallet.KeyState{}, err
		}
		st, err := in.Decide(toStoredKey(row))
		if err != nil || !st.Claim {
			return st, err
		}
		err = s.q.ClaimIdempotencyKey(ctx, tx, db.ClaimIdempotencyKeyParams{
			RequestHash: in.RequestHash, ResourceID: st.ResourceID, Renew: st.Renew, Now: in.Now, UserID: k.UserID, Scope: k.Scope, Key: k.Key,
		})
		return st, err
	}
	return wallet.KeyState{}, idempotency.ErrInProgress
}

// DeleteExpiredIdempotencyKeys implements wallet.Store.
func (s *Store) DeleteExpiredIdempotencyKeys(ctx context.Context, before time.Time) (int64, error) {
	return s.q.DeleteExpiredIdempotencyKeys(ctx, s.pool, before)
}

// completeKey marks key's request completed with response inside tx.
func (s *Store) completeKey(ctx context.Context, tx pgx.Tx, key wallet.IdempotencyKey, response []byte) error {
	return s.q.CompleteIdempotencyKey(ctx, tx, db.CompleteIdempotencyKeyParams{UserID: key.UserID, Scope: key.Scope, Key: key.Key, Response: response})
}

// forgetKey deletes key's record inside tx, so the client may use it again.
func (s *Store) forgetKey(ctx context.Context, tx pgx.Tx, key wallet.IdempotencyKey) error {
	return s.q.DeleteIdempotencyKey(ctx, tx, db.DeleteIdempotencyKeyParams{UserID: key.UserID, Scope: key.Scope, Key: key.Key})
}

func toStoredKey(r db.IdempotencyKey) wallet.StoredKey {
	var resource uuid.UUID
	if r.ResourceID != nil {
		resource = *r.ResourceID
	}
	return wallet.StoredKey{
		Record: idempotency.Record{
			RequestHash: r.RequestHash, Completed: r.Status == "completed", CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
		},
		ResourceID: resource, Response: r.Response,
	}
}
