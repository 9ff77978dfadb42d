package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/meterflow/meterflow/platform/outbox"
	"github.com/meterflow/meterflow/services/identity/internal/identity"
	"github.com/meterflow/meterflow/services/identity/internal/postgres/db"
)

// errNoJobs: the store was built without a River client (a command that
// sends no email) and was asked to queue something.
var errNoJobs = errors.New("identity store: no job client to queue emails with")

// AccountByID implements identity.Store.
func (s *Store) AccountByID(ctx context.Context, id uuid.UUID) (identity.Account, error) {
	row, err := s.q.UserByID(ctx, s.pool, id)
	if err != nil {
		return identity.Account{}, mapErr(err)
	}
	return identity.Account{User: toUser(row), PasswordHash: row.PasswordHash}, nil
}

// UseAccountToken implements identity.Store.
func (s *Store) UseAccountToken(ctx context.Context, tokenHash []byte, purpose identity.Purpose, now time.Time, decide func(before identity.User) (*identity.UserUpdate, error)) (identity.User, error) {
	var out identity.User
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		userID, err := s.q.UseAccountToken(ctx, tx, db.UseAccountTokenParams{Now: now, TokenHash: tokenHash, Purpose: string(purpose)})
		if errors.Is(err, pgx.ErrNoRows) {
			return identity.ErrInvalidLink
		}
		if err != nil {
			return err
		}
		out, err = s.updateUser(ctx, tx, userID, now, decide)
		return err
	})
	return out, err
}

// PasswordResetArgs is the River job of a password reset request: the
// address as the requester typed it (trimmed). It lives in identity's own
// database until worked.
type PasswordResetArgs struct {
	Email string `json:"email"`
}

// Kind implements river.JobArgs.
func (PasswordResetArgs) Kind() string { return "identity_password_reset" }

// InsertOpts implements river.JobArgsWithInsertOpts: a reset link is
// useful for 30 minutes, so a job that failed for that long is of no use.
func (PasswordResetArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 5}
}

// EnqueuePasswordReset implements identity.Store: one job inserted and
// committed, the same work for every address.
func (s *Store) EnqueuePasswordReset(ctx context.Context, email string) error {
	if s.jobs == nil {
		return errNoJobs
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		_, err := s.jobs.InsertTx(ctx, tx, PasswordResetArgs{Email: email}, nil)
		return err
	})
}

// insertLink stores a link token.
func (s *Store) insertLink(ctx context.Context, tx pgx.Tx, t identity.AccountToken, now time.Time) error {
	return s.q.InsertAccountToken(ctx, tx, db.InsertAccountTokenParams{
		TokenHash: t.Hash, Purpose: string(t.Purpose), UserID: t.UserID, CreatedAt: now, ExpiresAt: t.ExpiresAt,
	})
}

// endLinks ends the user's live links of the purposes.
func (s *Store) endLinks(ctx context.Context, tx pgx.Tx, userID uuid.UUID, purposes []identity.Purpose, now time.Time) error {
	if len(purposes) == 0 {
		return nil
	}
	ps := make([]string, len(purposes))
	for i, p := range purposes {
		ps[i] = string(p)
	}
	_, err := s.q.EndAccountTokens(ctx, tx, db.EndAccountTokensParams{Now: now, UserID: userID, Purposes: ps})
	return err
}

// enqueueEmails hands the emails to the outbox in tx: they go out exactly
// when tx commits.
func (s *Store) enqueueEmails(ctx context.Context, tx pgx.Tx, emails []identity.Email) error {
	if len(emails) > 0 && s.jobs == nil {
		return errNoJobs
	}
	for _, e := range emails {
		if err := outbox.EnqueueEmail(ctx, s.jobs, tx, outbox.Email{ToUserID: e.UserID.String(), Template: e.Template, Data: e.Data}); err != nil {
			return err
		}
	}
	return nil
}
