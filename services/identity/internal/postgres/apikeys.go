package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/meterflow/meterflow/platform/paging"
	"github.com/meterflow/meterflow/services/identity/internal/identity"
	"github.com/meterflow/meterflow/services/identity/internal/postgres/db"
)

func toAPIKey(k db.ApiKey) identity.APIKey {
	return identity.APIKey{
		ID: k.ID, UserID: k.UserID, Name: k.Name, Prefix: k.Prefix, SecretHash: k.SecretHash, Scopes: k.Scopes,
		ExpiresAt: utcPtr(k.ExpiresAt), MonthlySpendLimitCents: k.MonthlySpendLimitCents,
		LastUsedAt: utcPtr(k.LastUsedAt), RevokedAt: utcPtr(k.RevokedAt), CreatedAt: k.CreatedAt.UTC(),
	}
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// CreateAPIKey implements identity.Store: the user's row lock serializes
// the creations of one user, so two at once cannot both pass the limit.
func (s *Store) CreateAPIKey(ctx context.Context, userID uuid.UUID, now time.Time, decide func(identity.User, int) (identity.APIKey, identity.AuditEvent, error)) (identity.APIKey, error) {
	var out identity.APIKey
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		u, err := s.q.UserByIDForUpdate(ctx, tx, userID)
		if err != nil {
			return mapErr(err)
		}
		active, err := s.q.CountActiveAPIKeys(ctx, tx, db.CountActiveAPIKeysParams{UserID: userID, Now: now})
		if err != nil {
			return err
		}
		k, ev, err := decide(toUser(u), int(active))
		if err != nil {
			return err
		}
		row, err := s.q.InsertAPIKey(ctx, tx, db.InsertAPIKeyParams{
			ID: k.ID, UserID: k.UserID, Name: k.Name, Prefix: k.Prefix, SecretHash: k.SecretHash, Scopes: k.Scopes,
			ExpiresAt: k.ExpiresAt, MonthlySpendLimitCents: k.MonthlySpendLimitCents, CreatedAt: k.CreatedAt,
		})
		if err != nil {
			return err
		}
		out = toAPIKey(row)
		return s.insertAudit(ctx, tx, ev)
	})
	return out, err
}

// ListAPIKeys implements identity.Store.
func (s *Store) ListAPIKeys(ctx context.Context, userID uuid.UUID, limit int, after paging.Cursor) ([]identity.APIKey, error) {
	p := db.ListAPIKeysParams{UserID: userID, RowLimit: int32(limit)}
	if !after.IsZero() {
		p.AfterCreatedAt, p.AfterID = &after.CreatedAt, after.ID
	}
	rows, err := s.q.ListAPIKeys(ctx, s.pool, p)
	if err != nil {
		return nil, err
	}
	out := make([]identity.APIKey, len(rows))
	for i, r := range rows {
		out[i] = toAPIKey(r)
	}
	return out, nil
}

// RevokeAPIKey implements identity.Store.
func (s *Store) RevokeAPIKey(ctx context.Context, id uuid.UUID, decide func(identity.APIKey) (*identity.APIKeyRevocation, error)) (identity.APIKey, error) {
	var out identity.APIKey
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		row, err := s.q.APIKeyByIDForUpdate(ctx, tx, id)
		if err != nil {
			return mapErr(err)
		}
		out = toAPIKey(row)
		rev, err := decide(out)
		if err != nil || rev == nil {
			return err
		}
		row, err = s.q.RevokeAPIKey(ctx, tx, db.RevokeAPIKeyParams{ID: id, RevokedAt: &rev.At})
		if err != nil {
			return err
		}
		out = toAPIKey(row)
		return s.insertAudit(ctx, tx, rev.Audit)
	})
	return out, err
}

// APIKeyByHash implements identity.Store.
func (s *Store) APIKeyByHash(ctx context.Context, hash []byte) (identity.APIKey, identity.User, error) {
	row, err := s.q.APIKeyByHash(ctx, s.pool, hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return identity.APIKey{}, identity.User{}, identity.ErrNotFound
	}
	if err != nil {
		return identity.APIKey{}, identity.User{}, err
	}
	return toAPIKey(row.ApiKey), toUser(row.User), nil
}

// TouchAPIKey implements identity.Store.
func (s *Store) TouchAPIKey(ctx context.Context, id uuid.UUID, now, before time.Time) error {
	return s.q.TouchAPIKey(ctx, s.pool, db.TouchAPIKeyParams{ID: id, Now: &now, Before: before})
}
