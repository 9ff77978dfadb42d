// Package limits holds the "limits" every scenario is measured beside: the
// reference pipeline of the read scenario, the local n8n-like receiver, and
// the raw one-row Postgres ledger.
package limits

import (
	"context"
	"errors"
	"net"
	"strings"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/gofiber/fiber/v2"
	"github.com/golang-jwt/jwt/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// Reference is the read scenario's limit: bare Fiber, an HS256 JWT check,
// one redis_rate GCRA decision and one unary gRPC call (the standard health
// Check, answered by an in-process gRPC server on loopback) per request.
// It is what an authenticated read cannot avoid doing, with nothing else.
// GET {URL}/v1/wallet-db is the same with a database: its gRPC call runs the
// wallet's primary-key SELECT through pgx (refdb.go).
type Reference struct {
	// URL is the base URL (http://127.0.0.1:port); GET {URL}/v1/wallet
	// and, when started with a database, GET {URL}/v1/wallet-db.
	URL    string
	Secret []byte

	app     *fiber.App
	grpcSrv *grpc.Server
	conn    *grpc.ClientConn
	rdb     *redis.Client
	pool    *pgxpool.Pool // the database route's pool, when it has one
}

// Issuer and Audience are the claims the reference checks.
const (
	Issuer   = "meterflow-bench"
	Audience = "meterflow-bench-api"
)

// StartReference starts the pipeline on loopback ports. keyPrefix isolates
// its Redis keys. With databaseURL (the bench wallet database) it also
// serves GET /v1/wallet-db, the same pipeline whose gRPC call does the
// wallet's primary-key SELECT (refdb.go).
func StartReference(redisURL, keyPrefix string, secret []byte, databaseURL string) (*Reference, error) {
	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		return nil, err
	}
	r := &Reference{Secret: secret, rdb: redis.NewClient(opt)}
	limiter := redis_rate.NewLimiter(r.rdb)
	limit := redis_rate.PerMinute(100_000_000)

	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(Issuer), jwt.WithAudience(Audience),
		jwt.WithExpirationRequired(),
	)
	keyFunc := func(*jwt.Token) (any, error) { return secret, nil }
	// auth is what every request of both routes does first: the JWT check
	// and one GCRA decision. It returns the subject, or the status to answer.
	auth := func(c *fiber.Ctx) (string, int) {
		tok, ok := strings.CutPrefix(c.Get(fiber.HeaderAuthorization), "Bearer ")
		if !ok {
			return "", fiber.StatusUnauthorized
		}
		var claims jwt.RegisteredClaims
		if _, err := parser.ParseWithClaims(tok, &claims, keyFunc); err != nil || claims.Subject == "" {
			return "", fiber.StatusUnauthorized
		}
		ctx, cancel := context.WithTimeout(c.UserContext(), 5*time.Second)
		defer cancel()
		res, err := limiter.Allow(ctx, keyPrefix+claims.Subject, limit)
		if err != nil {
			return "", fiber.StatusInternalServerError
		}
		if res.Allowed == 0 {
			return "", fiber.StatusTooManyRequests
		}
		return claims.Subject, 0
	}

	glis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r.grpcSrv = grpc.NewServer()
	healthpb.RegisterHealthServer(r.grpcSrv, health.NewServer())
	r.app = fiber.New(fiber.Config{DisableStartupMessage: true})
	if databaseURL != "" {
		if err := r.startDBRoute(databaseURL, auth); err != nil {
			_ = glis.Close()
			r.Close()
			return nil, err
		}
	}
	go func() { _ = r.grpcSrv.Serve(glis) }()
	r.conn, err = grpc.NewClient(glis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		r.Close()
		return nil, err
	}
	hc := healthpb.NewHealthClient(r.conn)

	r.app.Get("/v1/wallet", func(c *fiber.Ctx) error {
		if _, status := auth(c); status != 0 {
			return c.SendStatus(status)
		}
		ctx, cancel := context.WithTimeout(c.UserContext(), 5*time.Second)
		defer cancel()
		if _, err := hc.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
			return c.SendStatus(fiber.StatusBadGateway)
		}
		return c.JSON(fiber.Map{"balance_cents": 0, "held_cents": 0, "available_cents": 0, "currency": "usd"})
	})
	hlis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		r.Close()
		return nil, err
	}
	r.URL = "http://" + hlis.Addr().String()
	go func() { _ = r.app.Listener(hlis) }()
	return r, nil
}

// Token signs an HS256 access token for sub, valid for ttl.
func (r *Reference) Token(sub string, ttl time.Duration) (string, error) {
	now := time.Now()
	return jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{
		Issuer: Issuer, Audience: jwt.ClaimStrings{Audience}, Subject: sub,
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
	}).SignedString(r.Secret)
}

// Close stops the pipeline.
func (r *Reference) Close() {
	var errs []error
	if r.app != nil {
		errs = append(errs, r.app.Shutdown())
	}
	if r.conn != nil {
		errs = append(errs, r.conn.Close())
	}
	if r.grpcSrv != nil {
		r.grpcSrv.Stop()
	}
	if r.pool != nil {
		r.pool.Close()
	}
	errs = append(errs, r.rdb.Close())
	_ = errors.Join(errs...)
}
