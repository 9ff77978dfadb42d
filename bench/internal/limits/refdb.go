package limits

import (
	"context"
	"fmt"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	grpcstatus "google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// The read scenario's second limit (issue 22): the reference pipeline whose
// gRPC server does what the wallet's GetWallet cannot avoid, the
// primary-key SELECT of the caller's account through pgx on the same
// Postgres, so that the goal compares the gateway with a pipeline that also
// has a database. One hand-written unary method keeps it free of the
// product's code: StringValue (the user id) in, BytesValue (the row's
// balance and held amounts) out.

// accountQuery is the wallet's GetAccount query (sqlc, accounts.sql), the
// statement every GET /v1/wallet runs.
const accountQuery = `SELECT * FROM accounts WHERE user_id = $1`

// refDBPoolSize is the wallet's default pool size (platform/database's
// DefaultMaxConns), so both sides queue on the same number of connections.
const refDBPoolSize = 16

// balanceServer answers the reference's database call.
type balanceServer struct{ pool *pgxpool.Pool }

func (s balanceServer) get(ctx context.Context, userID string) (*wrapperspb.BytesValue, error) {
	rows, err := s.pool.Query(ctx, accountQuery, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var balance, held int64
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return nil, err
		}
		for i, f := range rows.FieldDescriptions() {
			switch f.Name {
			case "balance_cents":
				balance, _ = vals[i].(int64)
			case "held_cents":
				held, _ = vals[i].(int64)
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return wrapperspb.Bytes(fmt.Appendf(nil, `{"balance_cents":%d,"held_cents":%d,"available_cents":%d,"currency":"usd"}`,
		balance, held, balance-held)), nil
}

// balanceMethod is the full gRPC method name of the database call.
const balanceMethod = "/meterflow.bench.v1.Balance/Get"

// balanceServiceDesc registers balanceServer's one unary method.
var balanceServiceDesc = grpc.ServiceDesc{
	ServiceName: "meterflow.bench.v1.Balance",
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Get",
		Handler: func(srv any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			in := new(wrapperspb.StringValue)
			if err := dec(in); err != nil {
				return nil, err
			}
			return srv.(balanceServer).get(ctx, in.GetValue())
		},
	}},
}

// startDBRoute opens the pool on databaseURL (the bench wallet database),
// registers the database method on the reference's gRPC server and serves
// GET /v1/wallet-db: the same JWT check and GCRA decision as /v1/wallet,
// then the database call instead of the health check.
func (r *Reference) startDBRoute(databaseURL string, auth func(*fiber.Ctx) (string, int)) error {
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return err
	}
	cfg.MaxConns, cfg.MinConns = refDBPoolSize, refDBPoolSize
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if r.pool, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
		return err
	}
	// Open every connection now, as the wallet's warmed pool has them: a
	// connection opened in the middle of a measurement (or refused by a
	// full server) would be counted against the limit.
	conns := make([]*pgxpool.Conn, 0, refDBPoolSize)
	defer func() {
		for _, c := range conns {
			c.Release()
		}
	}()
	for range refDBPoolSize {
		c, err := r.pool.Acquire(ctx)
		if err != nil {
			return fmt.Errorf("reference pipeline: open its %d database connections: %w", refDBPoolSize, err)
		}
		conns = append(conns, c)
	}
	r.grpcSrv.RegisterService(&balanceServiceDesc, balanceServer{pool: r.pool})
	r.app.Get("/v1/wallet-db", func(c *fiber.Ctx) error {
		sub, status := auth(c)
		if status != 0 {
			return c.SendStatus(status)
		}
		ctx, cancel := context.WithTimeout(c.UserContext(), 5*time.Second)
		defer cancel()
		out := new(wrapperspb.BytesValue)
		if err := r.conn.Invoke(ctx, balanceMethod, wrapperspb.String(sub), out); err != nil {
			if code := grpcstatus.Code(err); code == codes.DeadlineExceeded || code == codes.Canceled {
				return c.SendStatus(fiber.StatusGatewayTimeout)
			}
			return c.SendStatus(fiber.StatusBadGateway)
		}
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
		return c.Send(out.GetValue())
	})
	return nil
}
