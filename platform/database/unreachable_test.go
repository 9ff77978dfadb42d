package database_test

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/meterflow/meterflow/platform/database"
)

// TestUnreachable: the errors pgx returns when Postgres cannot be reached
// (connection refused), cuts the connection (closed in the middle of the
// start-up exchange) or drops it at COMMIT are outages, which the services
// answer as Unavailable, not Internal (regression: the reliability drills'
// Postgres outage answered 500).
func TestUnreachable(t *testing.T) {
	t.Parallel()
	// A port with nothing listening: connection refused.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := lis.Addr().String()
	_ = lis.Close()
	// A listener that accepts and closes at once: the connection is cut.
	cut, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cut.Close() })
	go func() {
		for {
			c, err := cut.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	// A COMMIT whose connection was cut (what pgx answers then).
	if !database.Unreachable(fmt.Errorf("adjust: commit: %w", pgconn.ErrConnClosed)) {
		t.Errorf("a cut COMMIT is not an outage")
	}
	if database.Unreachable(fmt.Errorf("insert: %w", &pgconn.PgError{Code: "23505"})) {
		t.Errorf("a unique violation is an outage")
	}
	for _, addr := range []string{refused, cut.Addr().String()} {
		t.Run(addr, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			pool, err := pgxpool.New(ctx, "postgres://postgres@"+addr+"/x?sslmode=disable&connect_timeout=5")
			if err != nil {
				t.Fatal(err)
			}
			defer pool.Close()
			err = pool.Ping(ctx)
			if err == nil {
				t.Fatal("ping succeeded")
			}
			if !database.Unreachable(err) {
				t.Fatalf("Unreachable(%v) = false", err)
			}
		})
	}
}
