// Package postgres implements identity.Store on Postgres with sqlc queries.
package postgres

import (
	"context"
	"crypto/ed25519"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/meterflow/meterflow/platform/database"
	"github.com/meterflow/meterflow/services/identity/internal/identity"
	"github.com/meterflow/meterflow/services/identity/internal/postgres/db"
)

// Store is the Postgres identity.Store.
type Store struct {
	pool *pgxpool.Pool
	q    *db.Queries
	// jobs inserts River jobs (outbox emails, password resets) in the
	// store's transactions; nil in commands that send no email.
	jobs *river.Client[pgx.Tx]
}

var _ identity.Store = (*Store)(nil)

// New returns a Store on pool whose emails and jobs jobs inserts (nil:
// the store refuses to write any, as create-admin needs none).
func New(pool *pgxpool.Pool, jobs *river.Client[pgx.Tx]) *Store {
	return &Store{pool: pool, q: db.New(), jobs: jobs}
}

// inTx runs fn in a transaction, committing when it returns nil.
func (s *Store) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return database.InTx(ctx, s.pool, fn)
}

// mapErr turns "no rows" and unique violations of the email index into the
// business package's errors.
func mapErr(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return identity.ErrNotFound
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "users_email_lower_key" {
		return identity.ErrEmailTaken
	}
	return err
}

func toUser(u db.User) identity.User {
	out := identity.User{
		ID: u.ID, Email: u.Email, IsAdmin: u.IsAdmin, IsActive: u.IsActive,
		CreatedAt: u.CreatedAt.UTC(), UpdatedAt: u.UpdatedAt.UTC(),
	}
	if u.EmailVerifiedAt != nil {
		t := u.EmailVerifiedAt.UTC()
		out.EmailVerifiedAt = &t
	}
	return out
}

// CreateUser implements identity.Store.
func (s *Store) CreateUser(ctx context.Context, u identity.NewUser, w identity.UserWrites, now time.Time) (identity.User, error) {
	var out identity.User
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		row, err := s.q.InsertUser(ctx, tx, db.InsertUserParams{
			ID: u.ID, Email: u.Email, PasswordHash: u.PasswordHash, IsAdmin: u.IsAdmin, IsActive: u.IsActive, EmailVerifiedAt: u.EmailVerifiedAt, CreatedAt: now,
		})
		if err != nil {
			return mapErr(err)
		}
		out = toUser(row)
		if w.First != nil {
			if err := s.insertRefreshToken(ctx, tx, *w.First, now); err != nil {
				return err
			}
		}
		if w.Audit != nil {
			if err := s.insertAudit(ctx, tx, *w.Audit); err != nil {
				return err
			}
		}
		if w.Link != nil {
			if err := s.insertLink(ctx, tx, *w.Link, now); err != nil {
				return err
			}
		}
		return s.enqueueEmails(ctx, tx, w.Emails)
	})
	return out, err
}

// AccountByEmail implements identity.Store.
func (s *Store) AccountByEmail(ctx context.Context, email string) (identity.Account, error) {
	row, err := s.q.UserByEmail(ctx, s.pool, email)
	if err != nil {
		return identity.Account{}, mapErr(err)
	}
	return identity.Account{User: toUser(row), PasswordHash: row.PasswordHash}, nil
}

// UserByID implements identity.Store.
func (s *Store) UserByID(ctx context.Context, id uuid.UUID) (identity.User, error) {
	row, err := s.q.UserByID(ctx, s.pool, id)
	if err != nil {
		return identity.User{}, mapErr(err)
	}
	return toUser(row), nil
}

// InsertRefreshToken implements identity.Store.
func (s *Store) InsertRefreshToken(ctx context.Context, t identity.RefreshToken, now time.Time) error {
	return s.insertRefreshToken(ctx, s.pool, t, now)
}

func (s *Store) insertRefreshToken(ctx context.Context, q db.DBTX, t identity.RefreshToken, now time.Time) error {
	return s.q.InsertRefreshToken(ctx, q, db.InsertRefreshTokenParams{
		TokenHash: t.Hash, FamilyID: t.FamilyID, UserID: t.UserID, CreatedAt: now, ExpiresAt: t.ExpiresAt, LoginExpiresAt: t.LoginExpiresAt,
	})
}

// RotateRefreshToken implements identity.Store.
func (s *Store) RotateRefreshToken(ctx context.Context, oldHash []byte, now time.Time, next func(old identity.RefreshToken, u identity.User) (identity.RefreshToken, error)) (identity.User, error) {
	var out identity.User
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		row, err := s.q.RotateRefreshToken(ctx, tx, db.RotateRefreshTokenParams{Now: now, TokenHash: oldHash})
		if errors.Is(err, pgx.ErrNoRows) {
			return s.whyNotRotated(ctx, tx, oldHash)
		}
		if err != nil {
			return err
		}
		u, err := s.q.UserByID(ctx, tx, row.UserID)
		if err != nil {
			return mapErr(err)
		}
		out = toUser(u)
		old := identity.RefreshToken{Hash: oldHash, FamilyID: row.FamilyID, UserID: row.UserID, LoginExpiresAt: row.LoginExpiresAt}
		t, err := next(old, out)
		if err != nil {
			return err
		}
		return s.insertRefreshToken(ctx, tx, t, now)
	})
	return out, err
}

// whyNotRotated tells a reused token from an unknown, expired or revoked one.
func (s *Store) whyNotRotated(ctx context.Context, q db.DBTX, hash []byte) error {
	t, err := s.q.RefreshTokenByHash(ctx, q, hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return identity.ErrInvalidToken
	}
	if err != nil {
		return err
	}
	if t.RotatedAt != nil {
		return identity.ErrTokenReused
	}
	return identity.ErrInvalidToken
}

// RevokeFamily implements identity.Store.
func (s *Store) RevokeFamily(ctx context.Context, tokenHash []byte, now time.Time) error {
	return s.q.RevokeFamilyOfToken(ctx, s.pool, db.RevokeFamilyOfTokenParams{Now: now, TokenHash: tokenHash})
}

// UserStats implements identity.Store.
func (s *Store) UserStats(ctx context.Context, todayStart, since30d time.Time) (identity.UserStats, error) {
	r, err := s.q.UserStats(ctx, s.pool, db.UserStatsParams{TodayStart: todayStart, Since30d: since30d})
	if err != nil {
		return identity.UserStats{}, err
	}
	return identity.UserStats{Total: r.UsersTotal, Active: r.UsersActive, Admins: r.Admins, NewToday: r.NewToday, New30d: r.New30d}, nil
}

// ListUsers implements identity.Store.
func (s *Store) ListUsers(ctx context.Context, q identity.UserQuery) ([]identity.User, error) {
	p := db.ListUsersParams{Query: q.Query, RowLimit: int32(q.Limit)}
	if !q.After.IsZero() {
		p.AfterCreatedAt, p.AfterID = &q.After.CreatedAt, q.After.ID
	}
	rows, err := s.q.ListUsers(ctx, s.pool, p)
	if err != nil {
		return nil, err
	}
	out := make([]identity.User, len(rows))
	for i, r := range rows {
		out[i] = toUser(r)
	}
	return out, nil
}

// UpdateUser implements identity.Store: it locks and loads the user, lets
// decide rule on the change, and writes what decide returned.
func (s *Store) UpdateUser(ctx context.Context, id uuid.UUID, now time.Time, decide func(before identity.User) (*identity.UserUpdate, error)) (identity.User, error) {
	var out identity.User
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		out, err = s.updateUser(ctx, tx, id, now, decide)
		return err
	})
	return out, err
}

// updateUser is UpdateUser in tx.
func (s *Store) updateUser(ctx context.Context, tx pgx.Tx, id uuid.UUID, now time.Time, decide func(before identity.User) (*identity.UserUpdate, error)) (identity.User, error) {
	row, err := s.q.UserByIDForUpdate(ctx, tx, id)
	if err != nil {
		return identity.User{}, mapErr(err)
	}
	before := toUser(row)
	up, err := decide(before)
	if err != nil || up == nil {
		return before, err
	}
	p := db.UpdateUserParams{ID: id, IsActive: up.After.IsActive, IsAdmin: up.After.IsAdmin, EmailVerifiedAt: up.After.EmailVerifiedAt, UpdatedAt: now}
	if up.PasswordHash != "" {
		p.PasswordHash = &up.PasswordHash
	}
	updated, err := s.q.UpdateUser(ctx, tx, p)
	if err != nil {
		return identity.User{}, err
	}
	if up.RevokeTokens {
		// uuid.Nil is no family's id: every token is revoked.
		if _, err := s.q.RevokeUserTokensExceptFamily(ctx, tx, db.RevokeUserTokensExceptFamilyParams{Now: now, UserID: id, KeepFamily: up.KeepFamily}); err != nil {
			return identity.User{}, err
		}
	}
	if err := s.endLinks(ctx, tx, id, up.EndLinks, now); err != nil {
		return identity.User{}, err
	}
	if up.Link != nil {
		if err := s.endLinks(ctx, tx, id, []identity.Purpose{up.Link.Purpose}, now); err != nil {
			return identity.User{}, err
		}
		if err := s.insertLink(ctx, tx, *up.Link, now); err != nil {
			return identity.User{}, err
		}
	}
	for _, ev := range up.Audit {
		if err := s.insertAudit(ctx, tx, ev); err != nil {
			return identity.User{}, err
		}
	}
	if err := s.enqueueEmails(ctx, tx, up.Emails); err != nil {
		return identity.User{}, err
	}
	return toUser(updated), nil
}

func (s *Store) insertAudit(ctx context.Context, q db.DBTX, ev identity.AuditEvent) error {
	return s.q.InsertAuditEvent(ctx, q, db.InsertAuditEventParams{
		ID: uuid.New(), ActorID: ev.ActorID, Action: ev.Action, TargetType: ev.TargetType, TargetID: ev.TargetID,
		Reason: ev.Reason, Before: ev.Before, After: ev.After, CreatedAt: ev.CreatedAt,
	})
}

// ListAuditEvents implements identity.Store.
func (s *Store) ListAuditEvents(ctx context.Context, q identity.AuditQuery) ([]identity.AuditEvent, error) {
	p := db.ListAuditEventsParams{TargetID: q.TargetID, RowLimit: int32(q.Limit)}
	if !q.After.IsZero() {
		p.AfterCreatedAt, p.AfterID = &q.After.CreatedAt, q.After.ID
	}
	rows, err := s.q.ListAuditEvents(ctx, s.pool, p)
	if err != nil {
		return nil, err
	}
	out := make([]identity.AuditEvent, len(rows))
	for i, r := range rows {
		out[i] = identity.AuditEvent{
			ID: r.ID, ActorID: r.ActorID, Action: r.Action, TargetType: r.TargetType, TargetID: r.TargetID,
			Reason: r.Reason, Before: r.Before, After: r.After, CreatedAt: r.CreatedAt.UTC(),
		}
	}
	return out, nil
}

// PublishSigningKey implements identity.Store.
func (s *Store) PublishSigningKey(ctx context.Context, kid string, pub ed25519.PublicKey, now, leaseEnd time.Time) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if err := s.q.PublishSigningKey(ctx, tx, db.PublishSigningKeyParams{Kid: kid, PublicKey: pub, Now: now, LeaseEnd: leaseEnd}); err != nil {
			return err
		}
		return s.q.LeaseUnleasedSigningKeys(ctx, tx, db.LeaseUnleasedSigningKeysParams{LeaseEnd: leaseEnd, Kid: kid})
	})
}

// PublishedSigningKeys implements identity.Store.
func (s *Store) PublishedSigningKeys(ctx context.Context, retiredAfter time.Time) ([]identity.SigningKey, error) {
	rows, err := s.q.PublishedSigningKeys(ctx, s.pool, retiredAfter)
	if err != nil {
		return nil, err
	}
	out := make([]identity.SigningKey, len(rows))
	for i, r := range rows {
		out[i] = identity.SigningKey{Kid: r.Kid, PublicKey: ed25519.PublicKey(r.PublicKey), ActivatedAt: r.ActivatedAt.UTC(), RetiredAt: r.RetiredAt}
	}
	return out, nil
}
