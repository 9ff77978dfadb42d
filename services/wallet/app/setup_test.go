package app_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/meterflow/meterflow/platform/callauth"
	"github.com/meterflow/meterflow/platform/callauth/authtest"
	"github.com/meterflow/meterflow/platform/database/dbtest"
	"github.com/meterflow/meterflow/platform/envconfig"
	"github.com/meterflow/meterflow/platform/grpcservice"
	"github.com/meterflow/meterflow/platform/rpcerr"
	walletv1 "github.com/meterflow/meterflow/proto/gen/meterflow/wallet/v1"
	"github.com/meterflow/meterflow/services/wallet/app"
	"github.com/meterflow/meterflow/services/wallet/migrations"
	"github.com/meterflow/meterflow/services/wallet/stripemocktest"
)

const webhookSecret = "whsec_test_meterflow_wallet"

// bundle is what a test needs: the wallet served over real gRPC with the
// production interceptors, clients calling as the gateway and as the
// workflow service, and the database for assertions.
type bundle struct {
	t        testing.TB
	app      *app.App
	cfg      app.Config
	pool     *pgxpool.Pool
	dbURL    string
	keys     *authtest.Keys
	gateway  walletv1.WalletServiceClient
	workflow walletv1.WalletServiceClient
	identity walletv1.WalletServiceClient // a service that may call nothing here
	admin    context.Context
	// stripe is the stateful stripe-mock the wallet talks to; nil when a
	// test gave its own API base.
	stripe *stripemocktest.Stripe
}

type options struct {
	stripeBase string // "" starts a stateful stripe-mock (bundle.stripe)
	sweep      time.Duration
	dbURL      string // reuse another bundle's database
	keys       *authtest.Keys
	workers    int                    // JOB_WORKERS (0: charges are only queued)
	stripe     *stripemocktest.Stripe // reuse another bundle's stateful stripe-mock
	capMult    int64                  // AUTO_TOPUP_MONTHLY_CAP_MULTIPLE (0: 10)
	batchMax   int                    // WALLET_RESERVE_BATCH_MAX (0: the default, batched)
	settleMax  int                    // WALLET_SETTLE_BATCH_MAX (0: the default, batched)
}

func setup(t testing.TB, opts ...func(*options)) *bundle {
	t.Helper()
	var o options
	for _, f := range opts {
		f(&o)
	}
	if o.dbURL == "" {
		_, o.dbURL = dbtest.New(t, migrations.FS)
		if err := app.MigrateQueue(context.Background(), o.dbURL, nil); err != nil {
			t.Fatal(err)
		}
	}
	stripe := o.stripe
	if stripe != nil {
		o.stripeBase = stripe.URL
	}
	if o.stripeBase == "" {
		stripe = stripemocktest.StartStateful(t)
		o.stripeBase = stripe.URL
	}
	if o.keys == nil {
		o.keys = authtest.NewKeys(t)
	}
	cfg := app.Config{
		Common: envconfig.Common{Env: "development", InternalAuthSecret: []byte(authtest.Secret), JWTIssuer: authtest.Issuer, JWTAudience: authtest.Audience, ShutdownGrace: time.Second}, DatabaseURL: o.dbURL, Keys: o.keys,
		StripeSecretKey: "sk_test_123", StripeWebhookSecret: webhookSecret, StripeAPIBase: o.stripeBase,
		TopUpMinCents: 500, TopUpMaxCents: 100000, Currency: "usd", AdjustmentMaxCents: 1_000_000,
		CheckoutSuccessURL: "http://localhost:8080/topup/success", CheckoutCancelURL: "http://localhost:8080/topup/cancel",
		CheckoutAllowedOrigins: []string{"https://app.example.com"}, HoldSweepInterval: o.sweep,
		HoldDefaultTTL: 15 * time.Minute, IdempotencyTTL: 48 * time.Hour,
		JobWorkers: o.workers, JobRescueAfter: 10 * time.Minute, AutoTopUpCapMultiple: 10,
		// No notify here: the emails stay queued in River, where the tests read them.
		NotifyAddr: "127.0.0.1:1", PublicBaseURL: "https://app.example.com",
	}
	if o.capMult > 0 {
		cfg.AutoTopUpCapMultiple = o.capMult
	}
	cfg.ReserveBatchMax = o.batchMax
	cfg.SettleBatchMax = o.settleMax
	var out io.Writer = io.Discard
	if os.Getenv("WALLET_TEST_LOG") != "" { // show the service's logs when debugging a test
		out = os.Stderr
	}
	log := slog.New(slog.NewJSONHandler(out, nil))
	a, err := app.New(context.Background(), cfg, log)
	if err != nil {
		t.Fatalf("app.New: %v", err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := a.Serve(ctx, lis); err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		a.Close()
	})
	pool, err := pgxpool.New(context.Background(), o.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	b := &bundle{t: t, app: a, cfg: cfg, pool: pool, dbURL: o.dbURL, keys: o.keys, stripe: stripe}
	b.gateway = b.client("gateway", lis.Addr().String())
	b.workflow = b.client("workflow", lis.Addr().String())
	b.identity = b.client("identity", lis.Addr().String())
	b.admin = b.as(uuid.NewString(), true)
	return b
}

func (b *bundle) client(service, addr string) walletv1.WalletServiceClient {
	b.t.Helper()
	conn, err := grpcservice.Dial(addr, authtest.Minter(b.t, service).Credentials("wallet"))
	if err != nil {
		b.t.Fatal(err)
	}
	b.t.Cleanup(func() { _ = conn.Close() })
	return walletv1.NewWalletServiceClient(conn)
}

// as returns a context whose calls carry userID's access token.
func (b *bundle) as(userID string, admin bool) context.Context {
	return callauth.WithUserToken(context.Background(), b.keys.AccessToken(b.t, userID, admin))
}

// fund credits userID through an admin adjustment.
func (b *bundle) fund(userID string, cents int64) {
	b.t.Helper()
	if _, err := b.gateway.AdminAdjustBalance(b.admin, &walletv1.AdminAdjustBalanceRequest{UserId: userID, AmountCents: cents, Reason: "test funding", IdempotencyKey: uuid.NewString()}); err != nil {
		b.t.Fatalf("fund %s: %v", userID, err)
	}
}

func (b *bundle) wallet(userID string) *walletv1.Wallet {
	b.t.Helper()
	resp, err := b.gateway.GetWallet(b.as(userID, false), &walletv1.GetWalletRequest{})
	if err != nil {
		b.t.Fatalf("GetWallet: %v", err)
	}
	return resp.GetWallet()
}

func (b *bundle) wantBalance(userID string, balance, held int64) {
	b.t.Helper()
	w := b.wallet(userID)
	if w.GetBalanceCents() != balance || w.GetHeldCents() != held || w.GetAvailableCents() != balance-held {
		b.t.Fatalf("wallet = balance %d held %d available %d, want balance %d held %d",
			w.GetBalanceCents(), w.GetHeldCents(), w.GetAvailableCents(), balance, held)
	}
}

// verify runs the same check as `wallet verify` and fails on any mismatch.
func (b *bundle) verify() {
	b.t.Helper()
	bad, err := app.Verify(context.Background(), b.dbURL)
	if err != nil {
		b.t.Fatalf("verify: %v", err)
	}
	if len(bad) > 0 {
		b.t.Fatalf("ledger invariants broken: %+v", bad)
	}
}

// count runs a count query for assertions.
func (b *bundle) count(sql string, args ...any) int {
	b.t.Helper()
	var n int
	if err := b.pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		b.t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func wantErr(t testing.TB, err error, code codes.Code, reason string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got success, want %s %s", code, reason)
	}
	if status.Code(err) != code || rpcerr.Reason(err) != reason {
		t.Fatalf("got %s %q (%v), want %s %q", status.Code(err), rpcerr.Reason(err), err, code, reason)
	}
}

func isCode(err error, code codes.Code, reason string) bool {
	return status.Code(err) == code && rpcerr.Reason(err) == reason
}
