// Package outage tells a database that cannot be reached from a bug. It is
// apart from package database (which re-exports it as
// database.Unreachable) so that rpcerr, which every process links, does not
// pull the pool, the migrations and database/sql into the gateway, which has
// no database: about 5 MB of binary and 1.3 MB of its idle RSS.
package outage

import (
	"errors"
	"io"
	"net"

	"github.com/jackc/pgx/v5/pgconn"
)

// Unreachable reports whether err is a failure to reach the database rather
// than a bug: a refused, reset or timed-out connection, or one cut in the
// middle of an answer (pgx wraps the net.Error or io error, or reports
// pgconn.ErrConnClosed when a COMMIT's connection was cut). Such an outage
// is transient, so services answer Unavailable and callers may retry (with
// their idempotency key: the outcome of a cut COMMIT is unknown) instead of
// getting an Internal error. The reliability drills found the 500s.
func Unreachable(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, pgconn.ErrConnClosed)
}
