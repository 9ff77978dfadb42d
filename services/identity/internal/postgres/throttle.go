package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/meterflow/meterflow/services/identity/internal/identity"
	"github.com/meterflow/meterflow/services/identity/internal/postgres/db"
)

// ClaimLoginAttempt implements identity.Store. The account's row is always
// locked before the client's, so concurrent attempts cannot deadlock.
func (s *Store) ClaimLoginAttempt(ctx context.Context, key identity.LoginKey, decide func(identity.LoginState) (identity.LoginState, time.Duration)) (time.Duration, error) {
	var wait time.Duration
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		// The rows must exist to be locked: a first attempt creates them
		// (concurrent first attempts both end up locking the same row).
		if err := s.q.EnsureLoginThrottle(ctx, tx, key.Account); err != nil {
			return err
		}
		acc, err := s.q.LoginThrottleForUpdate(ctx, tx, key.Account)
		if err != nil {
			return err
		}
		ck := db.EnsureLoginClientThrottleParams{EmailKey: key.Account, ClientKey: key.Client}
		if err := s.q.EnsureLoginClientThrottle(ctx, tx, ck); err != nil {
			return err
		}
		cl, err := s.q.LoginClientThrottleForUpdate(ctx, tx, db.LoginClientThrottleForUpdateParams(ck))
		if err != nil {
			return err
		}
		st := identity.LoginState{
			Account: identity.LoginFailures{Count: int(acc.Failures), Last: acc.LastFailureAt},
			Client:  identity.LoginFailures{Count: int(cl.Failures), Last: cl.LastFailureAt},
		}
		if key.Client != "" {
			last, err := s.q.KnownLoginClient(ctx, tx, db.KnownLoginClientParams(ck))
			switch {
			case err == nil:
				st.LastSuccess = last
			case !errors.Is(err, pgx.ErrNoRows):
				return err
			}
		}
		next, w := decide(st)
		wait = w
		if w > 0 {
			return nil
		}
		if err := s.q.SetLoginThrottle(ctx, tx, db.SetLoginThrottleParams{EmailKey: key.Account, Failures: int32(next.Account.Count), LastFailureAt: next.Account.Last}); err != nil {
			return err
		}
		return s.q.SetLoginClientThrottle(ctx, tx, db.SetLoginClientThrottleParams{
			EmailKey: key.Account, ClientKey: key.Client, Failures: int32(next.Client.Count), LastFailureAt: next.Client.Last,
		})
	})
	return wait, err
}

// RecordLoginSuccess implements identity.Store.
func (s *Store) RecordLoginSuccess(ctx context.Context, key identity.LoginKey, remember bool, now time.Time) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if err := s.q.ResetLoginClientThrottle(ctx, tx, db.ResetLoginClientThrottleParams{EmailKey: key.Account, ClientKey: key.Client}); err != nil {
			return err
		}
		if !remember {
			return nil
		}
		return s.q.RememberLoginClient(ctx, tx, db.RememberLoginClientParams{EmailKey: key.Account, ClientKey: key.Client, LastSuccessAt: now})
	})
}

// Prune implements identity.Store.
func (s *Store) Prune(ctx context.Context, b identity.PruneBefore) (identity.Pruned, error) {
	var n identity.Pruned
	var err error
	if n.Tokens, err = s.q.DeleteExpiredRefreshTokens(ctx, s.pool, b.TokensExpired); err != nil {
		return n, err
	}
	if n.Links, err = s.q.DeleteExpiredAccountTokens(ctx, s.pool, b.TokensExpired); err != nil {
		return n, err
	}
	acc, err := s.q.DeleteStaleLoginThrottle(ctx, s.pool, b.Failures)
	if err != nil {
		return n, err
	}
	cl, err := s.q.DeleteStaleLoginClientThrottle(ctx, s.pool, b.Failures)
	if err != nil {
		return n, err
	}
	n.Failures = acc + cl
	n.KnownClients, err = s.q.DeleteStaleKnownLoginClients(ctx, s.pool, b.KnownClients)
	return n, err
}
